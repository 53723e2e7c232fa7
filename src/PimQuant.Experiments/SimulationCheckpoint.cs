using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using PimQuant.Accelerator;
using PimQuant.Data;
using PimQuant.Engine.Runtime;
using PimQuant.Hardware.Spec;
using PimQuant.Quant.Model;
using PimQuant.Sim;
using PimQuant.Training;
using static TorchSharp.torch;
using PimQuant.Hardware.Cost;

namespace PimQuant.Experiments;

/// <summary>Where a simulated run saves its progress, how often, and where it continues from.</summary>
/// <param name="Path">The checkpoint file.</param>
/// <param name="EveryBatches">Test batches between saves.</param>
/// <param name="Run">What identifies the run (<see cref="SimulationCheckpoint.RunKey"/>).</param>
/// <param name="From">The checkpoint to continue from (already checked against <paramref name="Run"/>), or null to start.</param>
/// <param name="Saved">Called after each save (tests stop a run there).</param>
public sealed record SimulationCheckpointPolicy(string Path, int EveryBatches, IReadOnlyList<KeyValuePair<string, string>> Run,
    SimulationCheckpoint? From, Action<SimulationCheckpoint>? Saved = null);

/// <summary>
/// The progress of a simulation run (<c>pimq simulate --checkpoint</c>) over the test images: how many are done, how many of them the
/// simulated crossbars classified correctly, and every crossbar layer's event counts so far (the cost
/// model's inputs), so a resumed run ends with the accuracy and the cost of an uninterrupted one.
/// Tagged with the run's identity (model bytes, resolved hardware spec, quantization, data and every option
/// that changes a result) and, once the chip is programmed, with a fingerprint of what was rebuilt (test and
/// calibration images, the quantized model, the ADC steps): a resume that would continue another run, or
/// whose rebuilt chip differs, is refused. JSON, written atomically (<see cref="AtomicFile"/>).
/// </summary>
public sealed class SimulationCheckpoint
{
    private const string Format = "pimquant-simulate-checkpoint";
    private const int FormatVersion = 1;

    private static readonly JsonSerializerOptions SnakeCase = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>The names <see cref="EventCounts"/> serializes with: a checkpoint must hold exactly these.</summary>
    private static readonly string[] EventFields = [.. JsonSerializer.SerializeToNode(EventCounts.Zero, SnakeCase)!.AsObject().Select(kv => kv.Key)];

    /// <summary>The run's identity (<see cref="RunKey"/>).</summary>
    public required IReadOnlyList<KeyValuePair<string, string>> Run { get; init; }
    /// <summary>What the run rebuilt before simulating (<see cref="Fingerprint"/>).</summary>
    public required IReadOnlyList<KeyValuePair<string, string>> Chip { get; init; }
    /// <summary>Test images simulated so far.</summary>
    public required int ImagesDone { get; init; }
    /// <summary>Test images of the whole run.</summary>
    public required int ImagesTotal { get; init; }
    /// <summary>Images done that the simulated crossbars classified correctly.</summary>
    public required int Correct { get; init; }
    /// <summary>Wall time spent simulating so far, over every process of the run.</summary>
    public required double Seconds { get; init; }
    /// <summary>Per crossbar layer, in graph order: its name and its events over the images done.</summary>
    public required IReadOnlyList<(string Name, EventCounts Events)> Layers { get; init; }

    /// <summary>
    /// The identity of a simulate run: everything that changes its result apart from the test and calibration
    /// images themselves (those are in <see cref="Fingerprint"/>). Hashes are SHA-256, hex.
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, string>> RunKey(SimulationRequest request)
    {
        string quantization = request.ConfigPath is { } config
            ? "config sha256:" + Sha256(File.ReadAllBytes(config))
            : $"W{request.WeightBits ?? request.Spec.Defaults.WeightBits}A{request.ActivationBits ?? request.Spec.Defaults.ActivationBits}";
        string spec = JsonSerializer.SerializeToNode(request.Spec with { Origin = "" }, SnakeCase)!.ToJsonString();
        return
        [
            new("model", "sha256:" + Sha256(File.ReadAllBytes(request.Model))),
            new("quantization", quantization),
            new("dataset", request.Data.Dataset ?? "(from the model)"),
            new("data", request.Data.Data is { } d ? Path.GetFullPath(d.FullName) : "(default)"),
            new("preprocessing", request.Data.Mean is { } mean && request.Data.Std is { } std
                ? $"mean {string.Join(",", mean.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))} std {string.Join(",", std.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))}"
                : "(from the model)"),
            new("images", request.Images?.ToString(CultureInfo.InvariantCulture) ?? "all"),
            new("calibration_images", request.CalibrationImages.ToString(CultureInfo.InvariantCulture)),
            new("seed", request.Seed.ToString(CultureInfo.InvariantCulture)),
            new("batch_size", request.BatchSize.ToString(CultureInfo.InvariantCulture)),
            new("threads", request.Threads.ToString(CultureInfo.InvariantCulture)),
            new("path", request.Path?.ToString() ?? "auto"),
            new("method", request.Method?.Label ?? "conventional"),
            // Last: --seed also sets the spec's seed, and the seed is the clearer difference to name.
            new("hw_spec", $"{request.Spec.Name} (with the overrides) sha256:{Sha256(Encoding.UTF8.GetBytes(spec))}"),
        ];
    }

    /// <summary>
    /// What a run rebuilds before it simulates, hashed: the test images, the calibration images, the quantized
    /// model (every tensor of its graph and every quantizer parameter) and the crossbars' ADC steps. Equal for
    /// the same run key unless something is not deterministic; compared on resume so that a resumed run never
    /// continues on a different chip.
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Fingerprint(ImageDataset test, Tensor calibration, QuantizedModel model, CrossbarModel crossbars)
    {
        using var scope = NewDisposeScope();
        using var quantized = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, value) in model.Graph.Initializers.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, kv.Value.Value))
                     .Concat(model.QuantizerParameters().Select(p => (p.Name, (Tensor)p.Value))))
        {
            quantized.AppendData(Encoding.UTF8.GetBytes($"{name}|{value.dtype}|{string.Join(",", value.shape)}|"));
            quantized.AppendData(value.contiguous().bytes);
        }
        var steps = crossbars.Layers.SelectMany(l => l.Groups).SelectMany(g => g.Steps).ToArray();
        return
        [
            new("test_images", Sha256([.. test.Pixels, .. test.Labels])),
            new("calibration_images", Sha256(calibration.contiguous().bytes)),
            new("quantized_model", Convert.ToHexStringLower(quantized.GetHashAndReset())),
            new("adc_steps", Sha256(MemoryMarshal.AsBytes(steps.AsSpan()))),
            new("crossbar_layers", string.Join(",", crossbars.Layers.Select(l => l.Name))),
        ];
    }

    /// <summary>Writes the checkpoint atomically to <paramref name="path"/>.</summary>
    public void Save(string path)
    {
        var json = new JsonObject
        {
            ["format"] = Format,
            ["version"] = FormatVersion,
            ["run"] = Pairs(Run),
            ["chip"] = Pairs(Chip),
            ["images_done"] = ImagesDone,
            ["images_total"] = ImagesTotal,
            ["correct"] = Correct,
            ["seconds"] = Seconds,
            ["layers"] = new JsonArray([.. Layers.Select(l =>
            {
                var layer = new JsonObject { ["name"] = l.Name };
                foreach (var (field, value) in JsonSerializer.SerializeToNode(l.Events, SnakeCase)!.AsObject()) layer[field] = value?.DeepClone();
                return (JsonNode)layer;
            })]),
        };
        AtomicFile.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    private static JsonObject Pairs(IEnumerable<KeyValuePair<string, string>> pairs) => new(pairs.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value)));

    /// <summary>Reads the checkpoint at <paramref name="path"/> and checks it belongs to the run <paramref name="run"/>.</summary>
    /// <exception cref="CheckpointException">Not a simulate checkpoint, truncated or corrupt, or of another run; one line naming the file.</exception>
    public static SimulationCheckpoint Load(string path, IReadOnlyList<KeyValuePair<string, string>> run)
    {
        string file = System.IO.Path.GetFileName(path);
        JsonObject json;
        try { json = JsonNode.Parse(File.ReadAllBytes(path)) as JsonObject ?? throw new CheckpointException($"{file}: not a pimq simulate checkpoint (not a JSON object)"); }
        catch (JsonException e) when (e.LineNumber is 0 && e.BytePositionInLine is 0)
        {
            throw new CheckpointException($"{file}: not a pimq simulate checkpoint (not JSON)");
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"{file}: truncated or corrupt checkpoint (the JSON breaks off at line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1})");
        }
        CheckpointException Corrupt(string what) => new($"{file}: corrupt checkpoint ({what})");
        T Value<T>(JsonObject parent, string name) =>
            parent[name] is JsonValue v && v.TryGetValue(out T? x) && x is not null ? x : throw Corrupt($"\"{name}\" missing or not a {typeof(T).Name}");
        JsonObject Object(JsonNode? node, string name) => node as JsonObject ?? throw Corrupt($"\"{name}\" missing or not an object");

        if ((json["format"] as JsonValue)?.TryGetValue(out string? format) is not true || format != Format)
            throw new CheckpointException($"{file}: not a pimq simulate checkpoint (\"format\" is not \"{Format}\")");
        int version = Value<int>(json, "version");
        if (version != FormatVersion)
            throw new CheckpointException($"{file}: simulate checkpoint format {version}, expected {FormatVersion}");
        var theirs = Object(json["run"], "run");
        RequireSame(file, "run", run, field => theirs[field] is null ? null : Value<string>(theirs, field), DifferentRunAdvice);
        var chip = Object(json["chip"], "chip");
        var layers = (json["layers"] as JsonArray ?? throw Corrupt("\"layers\" missing or not an array")).Select(node =>
        {
            var layer = Object(node, "layers[]");
            var fields = layer.Select(kv => kv.Key).Where(k => k != "name").ToArray();
            if (!fields.Order(StringComparer.Ordinal).SequenceEqual(EventFields.Order(StringComparer.Ordinal)))
                throw new CheckpointException($"{file}: its event counts ({string.Join(", ", fields)}) are not the ones this pimq counts ({string.Join(", ", EventFields)}); it was written by another version");
            if (fields.FirstOrDefault(f => Value<long>(layer, f) < 0) is { } negative) throw Corrupt($"{negative} is negative");
            var events = new JsonObject(fields.Select(f => KeyValuePair.Create(f, (JsonNode?)layer[f]!.DeepClone())));
            return (Value<string>(layer, "name"), events.Deserialize<EventCounts>(SnakeCase) ?? throw Corrupt("an event count is null"));
        }).ToArray();
        var checkpoint = new SimulationCheckpoint
        {
            Run = run,
            Chip = [.. chip.Select(kv => KeyValuePair.Create(kv.Key, Value<string>(chip, kv.Key)))],
            ImagesDone = Value<int>(json, "images_done"),
            ImagesTotal = Value<int>(json, "images_total"),
            Correct = Value<int>(json, "correct"),
            Seconds = Value<double>(json, "seconds"),
            Layers = layers,
        };
        if (checkpoint.ImagesDone < 0 || checkpoint.ImagesDone > checkpoint.ImagesTotal || checkpoint.Correct < 0 || checkpoint.Correct > checkpoint.ImagesDone)
            throw Corrupt($"{checkpoint.Correct} correct of {checkpoint.ImagesDone} images done of {checkpoint.ImagesTotal}");
        return checkpoint;
    }

    /// <summary>Checks that this run rebuilt the chip the checkpoint was taken on, over as many test images.</summary>
    /// <exception cref="CheckpointException">Something differs, named.</exception>
    public void CheckChip(string path, IReadOnlyList<KeyValuePair<string, string>> chip, IReadOnlyList<string> layers, int imagesTotal)
    {
        string file = System.IO.Path.GetFileName(path);
        RequireSame(file, "chip or data", chip, field => Chip.FirstOrDefault(p => p.Key == field).Value, "use the same model, data and options, or start without --resume");
        if (!Layers.Select(l => l.Name).SequenceEqual(layers))
            throw new CheckpointException($"{file}: corrupt checkpoint (its layers {string.Join(",", Layers.Select(l => l.Name))} are not the crossbar layers {string.Join(",", layers)})");
        if (ImagesTotal != imagesTotal)
            throw new CheckpointException($"{file}: checkpoint of a run over {ImagesTotal} test images, this run has {imagesTotal}; start without --resume");
    }

    /// <summary>What to do about a checkpoint of another run.</summary>
    internal const string DifferentRunAdvice = "use the same model, hardware, data and options, or start without --resume";

    /// <summary>Refuses a checkpoint whose key differs from <paramref name="ours"/>, naming the first differing field (hashes
    /// shortened): <c>FILE: checkpoint of a different WHAT (FIELD is X there, Y here); ADVICE</c>.</summary>
    /// <param name="file">The checkpoint's file name.</param>
    /// <param name="what">What differs, e.g. <c>run</c>.</param>
    /// <param name="ours">This run's key.</param>
    /// <param name="held">The checkpoint's value of a field, or null where it has none.</param>
    /// <param name="advice">What to do instead.</param>
    /// <exception cref="CheckpointException">A field differs.</exception>
    internal static void RequireSame(string file, string what, IReadOnlyList<KeyValuePair<string, string>> ours, Func<string, string?> held, string advice)
    {
        foreach (var (field, value) in ours)
        {
            string there = held(field) ?? "absent";
            if (there != value)
                throw new CheckpointException($"{file}: checkpoint of a different {what} ({field} is {Short(there)} there, {Short(value)} here); {advice}");
        }
    }

    /// <summary>A value for a message: SHA-256 hashes cut to 12 hex digits.</summary>
    private static string Short(string value)
    {
        int at = value.IndexOf("sha256:", StringComparison.Ordinal);
        if (at >= 0) return value[..(at + 7)] + value[(at + 7)..].Substring(0, Math.Min(12, value.Length - at - 7)) + "…";
        return value.Length == 64 && value.All(char.IsAsciiHexDigitLower) ? "sha256:" + value[..12] + "…" : value;
    }

    private static string Sha256(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}
