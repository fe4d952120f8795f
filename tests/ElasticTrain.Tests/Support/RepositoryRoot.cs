namespace ElasticTrain.Tests;

/// <summary>Finds the repository root (the folder with ElasticTrain.sln) from the test's output folder.</summary>
public static class RepositoryRoot
{
    public static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "ElasticTrain.sln"))) return dir.FullName;
        throw new InvalidOperationException("ElasticTrain.sln not found above " + AppContext.BaseDirectory);
    }
}
