namespace ElasticTrain.Cli.Benchmarks;

/// <summary>A fresh folder under the system's temporary directory, removed with everything in it on dispose.</summary>
public sealed class BenchFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("elastictrain-bench-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A leftover temporary folder is harmless; failing the benchmark over it would not be.
        }
    }
}
