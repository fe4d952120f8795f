namespace ElasticTrain.Models;

/// <summary>
/// The shape of a byte-level language model: which architecture and how big.
/// </summary>
/// <remarks>
/// Every rank of a job builds its replica from the same spec and seed, so a spec must be unambiguous
/// and valid before any tensor is allocated. The constructor therefore validates, and the properties
/// are get-only (no <c>with</c> expressions) so that no instance can ever hold an invalid combination.
/// </remarks>
public sealed record ModelSpec
{
    /// <summary>Architecture name of the decoder-only transformer.</summary>
    public const string GptName = "gpt";

    /// <summary>Architecture name of the small embedding + MLP model used where speed matters more than quality.</summary>
    public const string MlpName = "mlp";

    /// <summary>Byte-level models see raw bytes, so the vocabulary is exactly the 256 byte values.</summary>
    public const int ByteVocab = 256;

    /// <summary>The default GPT: 4 layers, 4 heads, width 256, context 128 (3,323,392 parameters).</summary>
    public static ModelSpec DefaultGpt { get; } = new(GptName);

    /// <summary>Validates and builds a spec; defaults are those of the default GPT.</summary>
    /// <param name="name">"gpt" or "mlp" (case-insensitive; stored in lower case).</param>
    /// <param name="layers">Number of transformer blocks (ignored by the mlp, but must still be positive).</param>
    /// <param name="heads">Number of attention heads (ignored by the mlp, but must still be positive).</param>
    /// <param name="width">Embedding width.</param>
    /// <param name="block">Context length: the longest input sequence the model accepts.</param>
    /// <param name="vocab">Vocabulary size; must be 256 because the models are byte-level.</param>
    /// <exception cref="ArgumentException">The combination does not describe a buildable model.</exception>
    public ModelSpec(string name = GptName, int layers = 4, int heads = 4, int width = 256, int block = 128, int vocab = ByteVocab)
    {
        var normalized = Validate(name, layers, heads, width, block, vocab);
        Name = normalized;
        Layers = layers;
        Heads = heads;
        Width = width;
        Block = block;
        Vocab = vocab;
    }

    /// <summary>"gpt" or "mlp".</summary>
    public string Name { get; }

    /// <summary>Number of transformer blocks.</summary>
    public int Layers { get; }

    /// <summary>Number of attention heads; divides <see cref="Width"/> for the gpt.</summary>
    public int Heads { get; }

    /// <summary>Embedding width.</summary>
    public int Width { get; }

    /// <summary>Context length: inputs may have at most this many positions.</summary>
    public int Block { get; }

    /// <summary>Vocabulary size (always 256).</summary>
    public int Vocab { get; }

    /// <summary>
    /// How many layers a pipeline can split this model into (not <see cref="Layers"/>, which counts
    /// transformer blocks): the embeddings and the output count as layers, so a gpt has
    /// <see cref="Layers"/> + 2 and the mlp 3. A stage boundary may fall between any two of them.
    /// </summary>
    public int PipelineLayers => Name == GptName ? Layers + 2 : 3;

    /// <summary>Bytes per training window: <see cref="Block"/> inputs plus the one extra byte the last target needs.</summary>
    public int WindowLength => Block + 1;

    /// <summary>A gpt spec with the given dimensions.</summary>
    public static ModelSpec ForGpt(int layers, int heads, int width, int block) => new(GptName, layers, heads, width, block);

    /// <summary>An mlp spec; layers and heads are irrelevant to it and set to 1.</summary>
    public static ModelSpec ForMlp(int width, int block) => new(MlpName, layers: 1, heads: 1, width: width, block: block);

    /// <summary>
    /// Checks a would-be spec without building it and returns the normalized name.
    /// </summary>
    /// <exception cref="ArgumentException">With a message naming the offending value.</exception>
    public static string Validate(string name, int layers, int heads, int width, int block, int vocab = ByteVocab)
    {
        if (string.IsNullOrWhiteSpace(name))
            throw new ArgumentException($"Model name must be '{GptName}' or '{MlpName}', but it is empty.", nameof(name));
        var normalized = name.Trim().ToLowerInvariant();
        if (normalized != GptName && normalized != MlpName)
            throw new ArgumentException($"Unknown model name '{name}': expected '{GptName}' or '{MlpName}'.", nameof(name));

        RequirePositive(layers, nameof(layers));
        RequirePositive(heads, nameof(heads));
        RequirePositive(width, nameof(width));
        RequirePositive(block, nameof(block));
        if (vocab != ByteVocab)
            throw new ArgumentException($"Vocab must be {ByteVocab} for byte-level models, but it is {vocab}.", nameof(vocab));

        // Only the transformer splits the width into heads; the mlp ignores heads entirely.
        if (normalized == GptName && width % heads != 0)
            throw new ArgumentException($"Width {width} is not divisible by heads {heads}: each head needs an equal slice of the width.", nameof(heads));
        return normalized;
    }

    private static void RequirePositive(int value, string paramName)
    {
        if (value <= 0)
            throw new ArgumentException($"Model dimension '{paramName}' must be positive, but it is {value}.", paramName);
    }
}
