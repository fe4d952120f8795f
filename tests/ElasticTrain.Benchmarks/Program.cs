using System.Globalization;
using System.Text.Json;
using ElasticTrain.Cli;

// Steps per second of the default GPT (global batch 16 unless --global-batch says otherwise) for several rank counts, measured in one
// process, alternating the rank counts round by round so drift in machine speed hits each alike.
// Each run's first steps (model build, first allocations) are left out: the rate is taken between
// the commit times of step `warmup` and the last step, checkpoints included.
//
//   dotnet run -c Release --project tests/ElasticTrain.Benchmarks -- [--steps 40] [--warmup 5] [--rounds 3] [--ranks 1,2] [train flags...]
var options = new Dictionary<string, string> { ["--steps"] = "40", ["--warmup"] = "5", ["--rounds"] = "3", ["--ranks"] = "1,2" };
var passThrough = new List<string>();
for (int i = 0; i < args.Length; i++)
{
    if (options.ContainsKey(args[i]) && i + 1 < args.Length) options[args[i]] = args[++i];
    else passThrough.Add(args[i]);
}
int steps = int.Parse(options["--steps"], CultureInfo.InvariantCulture);
int warmup = int.Parse(options["--warmup"], CultureInfo.InvariantCulture);
int rounds = int.Parse(options["--rounds"], CultureInfo.InvariantCulture);
var rankCounts = options["--ranks"].Split(',').Select(r => int.Parse(r, CultureInfo.InvariantCulture)).ToArray();
if (warmup < 1 || steps <= warmup + 1) { Console.Error.WriteLine("error: need --steps > --warmup + 1 and --warmup >= 1"); return 2; }

var batchFlag = passThrough.IndexOf("--global-batch");
int globalBatch = batchFlag >= 0 && batchFlag + 1 < passThrough.Count ? int.Parse(passThrough[batchFlag + 1], CultureInfo.InvariantCulture) : 16;

var results = rankCounts.ToDictionary(r => r, _ => new List<double>());
var root = Path.Combine(Path.GetTempPath(), "elastictrain-bench-" + Environment.ProcessId);
for (int round = 1; round <= rounds; round++)
{
    foreach (var ranks in rankCounts)
    {
        var folder = Path.Combine(root, $"r{round}-n{ranks}");
        var metrics = Path.Combine(folder, "metrics.jsonl");
        string[] train = ["train", "--plain", "--job", "bench", "--ranks", ranks.ToString(CultureInfo.InvariantCulture),
            "--steps", steps.ToString(CultureInfo.InvariantCulture), "--checkpoint-every", "1000000",
            "--data-dir", folder, "--metrics", metrics, .. passThrough];
        var quiet = new StringWriter();
        var saved = Console.Out;
        Console.SetOut(quiet);
        int code;
        try { code = await CliApp.RunAsync(train, Console.Error); }
        finally { Console.SetOut(saved); }
        if (code != 0) { Console.Error.WriteLine($"error: training with {ranks} ranks exited {code}"); return 1; }

        var times = File.ReadLines(metrics).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(r => r.GetProperty("type").GetString() == "step")
            .ToDictionary(r => r.GetProperty("step").GetInt64(), r => r.GetProperty("time_ms").GetInt64());
        var rate = (steps - warmup) / ((times[steps] - times[warmup]) / 1000.0);
        results[ranks].Add(rate);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {round} ranks={ranks} steps_per_s={rate:0.000}"));
        Directory.Delete(folder, recursive: true);
    }
}
foreach (var (ranks, rates) in results)
{
    var median = rates.Order().ElementAt(rates.Count / 2);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"median ranks={ranks} steps_per_s={median:0.000} samples_per_s={median * globalBatch:0.0} (min {rates.Min():0.000}, max {rates.Max():0.000}, {rates.Count} runs)"));
}
return 0;
