using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;

namespace ElasticTrain.Cli.Hosting;

/// <summary>
/// Akka's log, written to <c>elastictrain.log-file</c> instead of the console. The console belongs
/// to the progress bar and to one-line errors; stack traces and cluster chatter go to the file,
/// where an operator can read them after the fact.
/// </summary>
public sealed class LogFile : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    private StreamWriter? _writer;

    public LogFile()
    {
        Receive<InitializeLogger>(_ =>
        {
            var path = Context.System.Settings.Config.GetString("elastictrain.log-file", "");
            if (path.Length > 0)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
                _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
            }
            Sender.Tell(new LoggerInitialized());
        });
        Receive<LogEvent>(e => _writer?.WriteLine($"{e.Timestamp:O} {e.LogLevel().ToString().Replace("Level", "").ToUpperInvariant()} {e.LogSource} {e.Message}{(e.Cause is null ? "" : Environment.NewLine + e.Cause)}"));
    }

    protected override void PostStop() => _writer?.Dispose();
}
