using System.Diagnostics;
using System.Security.Cryptography;
using PimQuant.Engine.Runtime;
using PimQuant.Fuzz;

// Usage: PimQuant.Fuzz TARGET CORPUS_DIR FINDINGS_DIR SECONDS [SEED]
//        PimQuant.Fuzz --seeds TARGET CORPUS_DIR   (writes small valid inputs to start a corpus)
// Feeds mutated corpus entries to one reader for a bounded time. Inputs that reach new
// behaviour (a new exception message shape, or the first accepted input) join the corpus;
// inputs that raise an unexpected exception are written to FINDINGS_DIR with the stack trace
// beside them, inputs that take more than SlowCpuSeconds of CPU as slow-*. Before each run the
// input is written to FINDINGS_DIR/current, so a native crash that kills the process leaves
// its input behind (run.sh collects it).
if (args is ["--seeds", var seedTarget, var seedDir])
{
    TorchRuntime.Apply(new EngineOptions(threads: 1, seed: 0));
    try { Seeds.Write(seedTarget, seedDir); }
    catch (ArgumentException e)
    {
        Console.Error.WriteLine(e.Message);
        return 2;
    }
    return 0;
}
if (args.Length < 4)
{
    Console.Error.WriteLine("usage: PimQuant.Fuzz TARGET CORPUS_DIR FINDINGS_DIR SECONDS [SEED]");
    return 2;
}
var target = Targets.All.FirstOrDefault(t => t.Name == args[0]);
if (target is null)
{
    Console.Error.WriteLine($"unknown target '{args[0]}'; targets: {string.Join(", ", Targets.All.Select(t => t.Name))}");
    return 2;
}
string corpusDir = args[1], findingsDir = args[2];
double seconds = double.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture);
int seed = args.Length > 4 ? int.Parse(args[4]) : 1;
Directory.CreateDirectory(corpusDir);
Directory.CreateDirectory(findingsDir);
TorchRuntime.Apply(new EngineOptions(threads: 1, seed: 0));

var corpus = Directory.GetFiles(corpusDir).Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToList();
if (corpus.Count == 0) corpus.Add([]);
var seen = new HashSet<string>(StringComparer.Ordinal);
var random = new Random(seed);
var mutator = new Mutator(random);
string current = Path.Combine(findingsDir, "current");
// The corpus is committed and replayed by every dotnet test: at most 64 entries of at most 8 KB
// (512 KB per target), which still holds every seed (the largest, a hardware preset, is under 6 KB).
const int MaxCorpus = 64, MaxCorpusEntryBytes = 8 << 10;
long executions = 0, findings = 0, added = 0;
// An input that keeps a reader busy for seconds is a hang waiting for a user's file (AFL's "hangs");
// it is kept as findings/TARGET/slow-*. The reading thread's own CPU time is measured: wall time
// and process CPU time (GC and JIT threads) both grow when a niced run is starved on a busy machine.
const double SlowCpuSeconds = 2;
double slowest = 0;
var watch = Stopwatch.StartNew();

// Behaviour signature: which exception (type + message with numbers blanked) or acceptance.
string Signature(Exception? e) => e is null ? "accepted" :
    e.GetType().Name + ":" + System.Text.RegularExpressions.Regex.Replace(e.Message, "0x[0-9A-Fa-f]+|[0-9][0-9,.]*|'[^']*'", "#");

// The corpus is replayed first: a finding committed earlier that still fails is reported again.
foreach (var entry in corpus)
{
    var error = Run(entry);
    if (error is not null && !target.IsExpectedRejection(error))
    {
        findings++;
        Console.Error.WriteLine($"corpus entry still fails: {error.GetType().Name}: {error.Message.Split('\n')[0]}");
    }
    seen.Add(Signature(error));
}
while (watch.Elapsed.TotalSeconds < seconds)
{
    var parent = corpus[random.Next(corpus.Count)];
    var input = mutator.Mutate(parent, corpus[random.Next(corpus.Count)]);
    File.WriteAllBytes(current, input);
    double cpuBefore = ThreadCpu.Seconds();
    var error = Run(input);
    double cpu = ThreadCpu.Seconds() - cpuBefore;
    slowest = Math.Max(slowest, cpu);
    executions++;
    if (cpu > SlowCpuSeconds)
    {
        findings++;
        string name = "slow-" + Convert.ToHexString(SHA256.HashData(input))[..16].ToLowerInvariant();
        File.WriteAllBytes(Path.Combine(findingsDir, name), input);
        File.WriteAllText(Path.Combine(findingsDir, name + ".txt"), $"{cpu:F1} s of CPU; outcome: {error?.ToString() ?? "accepted"}");
        Console.Error.WriteLine($"finding {name}: {cpu:F1} s of CPU");
        continue;
    }
    if (error is not null && !target.IsExpectedRejection(error))
    {
        findings++;
        string name = Convert.ToHexString(SHA256.HashData(input))[..16].ToLowerInvariant();
        File.WriteAllBytes(Path.Combine(findingsDir, name), input);
        File.WriteAllText(Path.Combine(findingsDir, name + ".txt"), error.ToString());
        Console.Error.WriteLine($"finding {name}: {error.GetType().Name}: {error.Message.Split('\n')[0]}");
        continue;
    }
    // A new behaviour joins the corpus only while there is room.
    if (seen.Add(Signature(error)) && input.Length <= MaxCorpusEntryBytes && corpus.Count < MaxCorpus)
    {
        corpus.Add(input);
        string name = Convert.ToHexString(SHA256.HashData(input))[..16].ToLowerInvariant();
        File.WriteAllBytes(Path.Combine(corpusDir, name), input);
        added++;
    }
}
File.Delete(current);
Console.WriteLine($"{target.Name}: {executions} executions in {watch.Elapsed.TotalSeconds:F0} s, {added} new corpus entries, {findings} findings, slowest input {slowest * 1000:F0} ms CPU");
return findings == 0 ? 0 : 1;

Exception? Run(byte[] input)
{
    try
    {
        target.Read(input);
        return null;
    }
    catch (Exception e)
    {
        return e;
    }
}
