using PimQuant.Experiments;
using Spectre.Console;

namespace PimQuant.Cli.Terminal;

/// <summary>
/// An experiment's progress on stderr: log lines in grey; a long step as a live bar (stage, detail, percentage,
/// time left) on a terminal, one line per stage otherwise, so logs stay readable when redirected.
/// </summary>
public sealed class ConsoleProgress(Output output) : IExperimentProgress
{
    /// <inheritdoc/>
    public void Log(string message) => output.Log(message);

    /// <inheritdoc/>
    public T Step<T>(string title, Func<Action<StepProgress>, T> body)
    {
        if (!output.Interactive)
        {
            string? lastStage = null;
            return body(p =>
            {
                if (p.Stage != lastStage && p.Stage != title) output.Log($"{p.Stage}…");
                lastStage = p.Stage;
            });
        }
        T result = default!;
        output.Err.Progress()
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(title));
                result = body(p =>
                {
                    task.MaxValue = Math.Max(1, p.Total);
                    task.Value = p.Done;
                    task.Description = Markup.Escape(p.Detail.Length == 0 ? p.Stage : $"{p.Stage}: {p.Detail}");
                });
            });
        return result;
    }
}
