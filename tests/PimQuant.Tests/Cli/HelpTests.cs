using System.CommandLine;
using PimQuant.Cli;

namespace PimQuant.Tests.Cli;

/// <summary>Every command a user runs shows how it is called: its help ends with examples.</summary>
public class HelpTests
{
    private static IEnumerable<Command> Leaves(Command command) =>
        command.Subcommands.Count == 0 ? [command] : command.Subcommands.SelectMany(Leaves);

    [Fact]
    public void Every_command_has_examples_that_call_it()
    {
        var root = PimqCommands.Root();
        var leaves = Leaves(root).ToList();
        Assert.True(leaves.Count >= 20, $"{leaves.Count} commands");
        foreach (var command in leaves)
        {
            var path = new List<string>();
            for (Command? c = command; c is not null && c != root; c = c.Parents.OfType<Command>().FirstOrDefault()) path.Insert(0, c.Name);
            string call = "pimq " + string.Join(' ', path);
            Assert.True(command.Description?.Contains("\n\nExamples:\n") == true, $"{call}: no examples");
            var examples = command.Description!.Split("\n\nExamples:\n")[1].Split('\n');
            Assert.All(examples, e => Assert.StartsWith("  " + call, e));
        }
    }
}
