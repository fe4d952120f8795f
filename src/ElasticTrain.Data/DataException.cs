namespace ElasticTrain.Data;

/// <summary>
/// Bad data input: a missing path, an empty corpus, data too small for the requested shape.
/// These are user errors, not bugs, so the message is one readable line meant to be printed
/// as-is by the command line (for example <c>data path '/x/y' does not exist</c>); argument
/// misuse by calling code still throws the ordinary <see cref="ArgumentException"/> family.
/// </summary>
public sealed class DataException : Exception
{
    public DataException(string message)
        : base(message)
    {
    }

    public DataException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
