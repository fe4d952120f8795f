using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Akka.Configuration;
using ElasticTrain.Configuration;
using ElasticTrain.ParameterServer;

namespace ElasticTrain.Cli.Commands;

/// <summary>
/// Command-line flags that each stand for one HOCON key. Only the flags given on the command line
/// override; the others leave the --config file and the embedded defaults in charge.
/// </summary>
public sealed class HoconFlags
{
    /// <param name="Words">For a flag whose words stand for other values of its key (<see cref="AddChoice"/>): each word and the value it sets; null: the value as given.</param>
    private sealed record Flag(Option Option, string Key, bool Quoted, IReadOnlyDictionary<string, string>? Words = null);

    private readonly List<Flag> _flags = [];

    public HoconFlags Add<T>(string name, string key, string description)
    {
        _flags.Add(new Flag(new Option<T>(name) { Description = description }, key, typeof(T) == typeof(string)));
        return this;
    }

    /// <summary>
    /// A flag that speaks the user's words for its key's values: <c>--mode allreduce</c> sets
    /// <c>elastictrain.collective = ring</c>. Any other word is refused in one line that lists them.
    /// </summary>
    /// <param name="words">Each word the flag takes, and the key's value it sets.</param>
    public HoconFlags AddChoice(string name, string key, IReadOnlyDictionary<string, string> words, string description)
    {
        _flags.Add(new Flag(new Option<string>(name) { Description = description }, key, Quoted: true, words));
        return this;
    }

    public void AddTo(Command command)
    {
        foreach (var flag in _flags) command.Options.Add(flag.Option);
    }

    public Config Overrides(ParseResult parse)
    {
        var text = new StringBuilder();
        foreach (var (option, key, quoted, words) in _flags)
        {
            if (parse.GetResult(option) is not { } given || given.GetValueOrDefault<object?>() is not { } value) continue;
            if (words is not null)
                value = words.TryGetValue((string)value, out var word)
                    ? word
                    : throw new SettingsException($"{option.Name} must be one of {string.Join(", ", words.Keys)}, not '{value}'");
            text.Append(key).Append(" = ").AppendLine(quoted
                ? JsonSerializer.Serialize((string)value)
                : Convert.ToString(value, CultureInfo.InvariantCulture));
        }
        return HoconFiles.Parse(text.ToString(), "flags");
    }

    /// <summary>The flags given on the command line, each with its value as given: for a command that passes them on to the processes it starts.</summary>
    public IEnumerable<(string Name, string Value)> Given(ParseResult parse)
    {
        foreach (var flag in _flags)
            if (parse.GetResult(flag.Option) is { } given && given.GetValueOrDefault<object?>() is { } value)
                yield return (flag.Option.Name, Convert.ToString(value, CultureInfo.InvariantCulture)!);
    }

    /// <summary>
    /// The flags that say what a job trains: the model and its shape, the batch, the optimizer, the
    /// data. `train` and `bench ranks` both take them.
    /// </summary>
    public HoconFlags AddTraining() => AddModel()
        .Add<int>("--global-batch", "elastictrain.job.global-batch", "Samples per step over all ranks")
        .Add<double>("--lr", "elastictrain.job.learning-rate", "Peak learning rate")
        .Add<long>("--seed", "elastictrain.job.seed", "Seed of the model init and the data order")
        .Add<string>("--data", "elastictrain.job.data", "Text file or folder (default: the .NET SDK's XML docs)");

    /// <summary>
    /// The flags that say how a step's gradient becomes an update: the optimizer, the learning-rate
    /// schedule, clipping, how many samples a rank runs at once, and evaluation on held-out windows. The rules' other
    /// hyper-parameters are HOCON only (<c>elastictrain.job.optimizer</c>).
    /// </summary>
    public HoconFlags AddRecipe() => this
        .Add<string>("--optimizer", "elastictrain.job.optimizer.name", "adamw (default), adam, sgd, lamb, adagrad or rmsprop")
        .Add<string>("--lr-schedule", "elastictrain.job.lr-schedule.name", "constant (default), cosine, linear, polynomial, exponential, step or cosine-restarts")
        .Add<long>("--warmup-steps", "elastictrain.job.lr-schedule.warmup-steps", "Linear warmup steps in front of the schedule (default 0)")
        .Add<double>("--min-lr", "elastictrain.job.lr-schedule.min-lr", "The learning rate a decaying schedule ends at (default 0)")
        .Add<string>("--clip-norm", "elastictrain.job.clip-norm", "Clip the gradient to this global L2 norm, or off (default)")
        .Add<string>("--micro-batch-size", "elastictrain.job.micro-batch-size", "Most samples a rank runs at once; more accumulate over passes (default auto: all)")
        .Add<string>("--precision", "elastictrain.job.precision", "fp32 (default), bf16 or fp16 (with a dynamic loss scale); master weights stay fp32")
        .Add<string>("--eval-every", "elastictrain.job.eval-every", "Validation loss on held-out windows every N steps, or off (default)")
        .Add<double>("--dropout", "elastictrain.job.dropout", "Dropout probability in [0, 1), the same masks per sample on any mesh (default 0: off)")
        .Add<string>("--compression", "elastictrain.job.compression", "Gradients on the wire: none (default), fp16, bf16, topk:RATIO or powersgd:RANK");

    /// <summary>
    /// The flags that choose all-reduce or a parameter server (<c>elastictrain.collective</c>) and
    /// the parameter server's shards and consistency (<c>elastictrain.ps</c>). Part of the recipe:
    /// `eval` needs them to find the job's identity as `train` does.
    /// </summary>
    public HoconFlags AddParameterServer() => this
        .AddChoice("--mode", "elastictrain.collective", new Dictionary<string, string> { ["allreduce"] = "ring", ["ps"] = ParameterServerSettings.Collective },
            "allreduce (default: replicas sum gradients in a ring) or ps (parameter shards that workers push to and pull from)")
        .Add<string>("--consistency", "elastictrain.ps.consistency", "ps: bsp (default: lockstep, all-reduce's curve), ssp (workers at most --staleness steps apart) or asp (no bound)")
        .Add<int>("--staleness", "elastictrain.ps.staleness", "ps with ssp: how many steps a worker may run ahead of the slowest (default 2)")
        .Add<string>("--shards", "elastictrain.ps.shards", "ps: parameter shards, or auto (default: one per rank at the start)");

    /// <summary>The flags that say which model: its architecture and shape (`bench pipeline` trains it on random tokens).</summary>
    public HoconFlags AddModel() => this
        .Add<string>("--model", "elastictrain.job.model", "gpt (default) or mlp")
        .Add<int>("--layers", "elastictrain.job.layers", "Transformer blocks")
        .Add<int>("--heads", "elastictrain.job.heads", "Attention heads")
        .Add<int>("--width", "elastictrain.job.width", "Embedding width")
        .Add<int>("--block", "elastictrain.job.block", "Context length in bytes");

    /// <summary>
    /// The flags that say how the job's ranks are arranged (<c>elastictrain.parallel.*</c>). `train`
    /// only: joining nodes learn the mesh from the coordinator with the job.
    /// </summary>
    public HoconFlags AddParallel() => this
        .Add<string>("--stages", "elastictrain.parallel.stages", "Pipeline stages, or auto (default: the fastest mesh that fits memory)")
        .Add<string>("--micro-batches", "elastictrain.parallel.micro-batches", "Micro-batches per step and replica, or auto (default: four per stage)")
        .Add<string>("--schedule", "elastictrain.parallel.schedule", "Pipeline schedule: 1f1b (default) or gpipe")
        .Add<string>("--rank-memory", "elastictrain.parallel.rank-memory", "What one rank may hold, e.g. 8GiB, or auto (default: available memory / local ranks)");

    /// <summary>The flags that find a job's things for a command about a job that is not running here: its id and store.</summary>
    public HoconFlags AddJobStore(string jobDescription) => this
        .Add<string>("--job", "elastictrain.job.id", jobDescription)
        .Add<string>("--store", "elastictrain.store", "SQLite file, or a PostgreSQL connection string (Host=...)")
        .Add<string>("--data-dir", "elastictrain.data-directory", "The job's folder for the default store, checkpoints and caches");

    /// <summary>The flags every node has: where it binds, where it keeps things, how many ranks it hosts.</summary>
    public static HoconFlags ForNode() => new HoconFlags()
        .Add<int>("--ranks", "elastictrain.ranks", "Rank actors on this node (default 2)")
        .Add<string>("--store", "elastictrain.store", "SQLite file, or a PostgreSQL connection string (Host=...)")
        .Add<string>("--data-dir", "elastictrain.data-directory", "Folder for the default store, checkpoints, log and caches")
        .Add<string>("--metrics", "elastictrain.metrics", "Append JSON lines per committed step to this file (where the coordinator runs)")
        .Add<string>("--trace-samples", "elastictrain.trace-samples", "Append which rank consumed which samples per step (where the coordinator runs)")
        .Add<string>("--device", "elastictrain.device", "cpu (default) or cuda")
        .Add<int>("--threads", "elastictrain.intra-op-threads", "libtorch threads of this process (default 0: cores / ranks)")
        .Add<string>("--host", "akka.remote.dot-netty.tcp.hostname", "Address the node binds (default 127.0.0.1)")
        .Add<int>("--port", "akka.remote.dot-netty.tcp.port", "Port the node binds (default: any free port)")
        .Add<string>("--http-port", "elastictrain.http.port", "Serve the web console, /metrics and /health on this port (0: any free port; off; default auto: any free port for train, off for node)")
        .Add<string>("--http-host", "elastictrain.http.host", "Address the HTTP server binds (default: --host)")
        .Add<string>("--http-token", "elastictrain.http.token", "Operator token for scale and drain on the console (default: the job's, printed once when made)");
}
