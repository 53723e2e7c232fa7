using System.Text;
using PimQuant.Engine.Graph;
using PimQuant.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace PimQuant.Training;

/// <summary>A checkpoint that cannot be used: not a checkpoint, truncated, or made for another run.</summary>
public sealed class CheckpointException(string message) : Exception(message);

/// <summary>
/// A training checkpoint: every tensor of the graph, any trained tensors kept outside it (learned
/// quantization parameters), the optimizer state and the run's progress,
/// tagged with the run's identity (model, options) so a resume with different settings is refused.
/// Written to a temporary file and renamed, so a crash never leaves a half-written checkpoint.
/// </summary>
public sealed class Checkpoint
{
    private static readonly byte[] Magic = "PIMQCKPT"u8.ToArray();
    private const int FormatVersion = 1;

    /// <summary>Identity of the run (model and options); must match on resume.</summary>
    public required string RunKey { get; init; }
    public required int EpochsCompleted { get; init; }
    public required IReadOnlyList<EpochResult> History { get; init; }

    /// <summary>Writes the graph's tensors, the extra tensors and the optimizer state atomically to <paramref name="path"/>.</summary>
    /// <param name="path">The checkpoint file.</param>
    /// <param name="graph">The model.</param>
    /// <param name="optimizer">The optimizer, whose state (momenta) the resumed run needs.</param>
    /// <param name="extra">Trained tensors that live outside the graph (e.g. learned quantization steps), by name; the names
    /// must differ from the graph's.</param>
    public void Save(string path, ModelGraph graph, optim.Optimizer optimizer, IReadOnlyList<(string Name, Tensor Value)>? extra = null)
    {
        using var scope = NewDisposeScope();
        AtomicFile.Write(path, stream =>
        {
            using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
            w.Write(Magic);
            w.Write(FormatVersion);
            w.Write(RunKey);
            w.Write(EpochsCompleted);
            w.Write(History.Count);
            foreach (var h in History)
            {
                w.Write(h.Epoch); w.Write(h.TrainLoss); w.Write(h.TrainAccuracy);
                w.Write(h.TestAccuracy ?? double.NaN); w.Write(h.Seconds); w.Write(h.ImagesPerSecond);
            }
            var tensors = Tensors(graph, extra).OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
            w.Write(tensors.Count);
            foreach (var (name, value) in tensors)
            {
                w.Write(name);
                w.Write((int)value.dtype);
                w.Write(value.dim());
                foreach (var d in value.shape) w.Write(d);
                var bytes = value.contiguous().bytes;
                w.Write(bytes.Length);
                w.Write(bytes);
            }
            ((TorchSharp.Modules.OptimizerHelper)optimizer).save_state_dict(w);
            w.Write(Magic);
        });
    }

    /// <summary>The graph's tensors and the extra ones, by name; a name used twice is a programming error.</summary>
    private static Dictionary<string, Tensor> Tensors(ModelGraph graph, IReadOnlyList<(string Name, Tensor Value)>? extra)
    {
        var tensors = graph.Initializers.ToDictionary(kv => kv.Key, kv => kv.Value.Value, StringComparer.Ordinal);
        foreach (var (name, value) in extra ?? [])
            if (!tensors.TryAdd(name, value))
                throw new ArgumentException($"extra tensor '{name}' has the name of another tensor of the checkpoint", nameof(extra));
        return tensors;
    }

    /// <summary>
    /// Reads a checkpoint into <paramref name="graph"/>, the <paramref name="extra"/> tensors and
    /// <paramref name="optimizer"/>, after checking it belongs to the run <paramref name="runKey"/> and holds
    /// exactly those tensors.
    /// </summary>
    /// <exception cref="CheckpointException">The file is not a valid checkpoint of this run; the message names the file.</exception>
    public static Checkpoint Load(string path, string runKey, ModelGraph graph, optim.Optimizer optimizer,
        IReadOnlyList<(string Name, Tensor Value)>? extra = null)
    {
        var tensors = Tensors(graph, extra);
        string file = Path.GetFileName(path);
        try
        {
            using var stream = File.OpenRead(path);
            using var r = new BinaryReader(stream, Encoding.UTF8);
            if (!r.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic))
                throw new CheckpointException($"{file}: not a PimQuant checkpoint (bad magic at byte 0)");
            int version = r.ReadInt32();
            if (version != FormatVersion)
                throw new CheckpointException($"{file}: checkpoint format {version}, expected {FormatVersion}");
            string key = r.ReadString();
            if (key != runKey)
                throw new CheckpointException($"{file}: checkpoint of a different run (it holds '{key}', this run is '{runKey}'); use the same model and options, or start without --resume");
            int epochs = r.ReadInt32();
            int historyCount = r.ReadInt32();
            var history = new List<EpochResult>();
            for (int i = 0; i < historyCount; i++)
            {
                int e = r.ReadInt32(); double loss = r.ReadDouble(), acc = r.ReadDouble(), test = r.ReadDouble(), sec = r.ReadDouble(), ips = r.ReadDouble();
                history.Add(new EpochResult(e, loss, acc, double.IsNaN(test) ? null : test, sec, ips));
            }
            int count = r.ReadInt32();
            if (count != tensors.Count)
                throw new CheckpointException($"{file}: holds {count} tensors, the run has {tensors.Count}");
            using (no_grad())
                for (int i = 0; i < count; i++)
                {
                    long at = stream.Position;
                    string name = r.ReadString();
                    var dtype = (ScalarType)r.ReadInt32();
                    var shape = new long[r.ReadInt64()];
                    for (int d = 0; d < shape.Length; d++) shape[d] = r.ReadInt64();
                    int length = r.ReadInt32();
                    byte[] bytes = r.ReadBytes(length);
                    if (bytes.Length != length)
                        throw new CheckpointException($"{file}: truncated at byte {stream.Position} in tensor '{name}'");
                    if (!tensors.TryGetValue(name, out var value) || value.dtype != dtype || !value.shape.SequenceEqual(shape))
                        throw new CheckpointException($"{file}: tensor '{name}' at byte {at} ({dtype}, [{string.Join(",", shape)}]) does not match the model");
                    bytes.CopyTo(value.bytes);
                }
            ((TorchSharp.Modules.OptimizerHelper)optimizer).load_state_dict(r);
            if (!r.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic))
                throw new CheckpointException($"{file}: truncated or corrupt (end marker missing at byte {stream.Position})");
            return new Checkpoint { RunKey = key, EpochsCompleted = epochs, History = history };
        }
        catch (EndOfStreamException)
        {
            throw new CheckpointException($"{file}: truncated checkpoint");
        }
        catch (Exception e) when (e is not CheckpointException and not IOException)
        {
            throw new CheckpointException($"{file}: corrupt checkpoint ({e.Message})");
        }
    }
}
