using PimQuant.Cli;

return CommandRunner.Execute(PimqCommands.Root(), args);
