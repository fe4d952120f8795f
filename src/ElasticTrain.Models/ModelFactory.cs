using TorchSharp;
using static TorchSharp.torch;

namespace ElasticTrain.Models;

/// <summary>
/// Builds models from a <see cref="ModelSpec"/> with parameters determined by the seed alone.
/// </summary>
/// <remarks>
/// Data-parallel replicas must start from identical parameters. TorchSharp's layer constructors draw
/// their initial values from the process-wide default generator, so the result of building a model
/// depends on whatever else used that generator before and during construction: models built earlier,
/// or a model built concurrently on another thread (whose draws would interleave with ours). Create
/// therefore holds one process-wide lock for the whole build, seeds the generator inside it, and
/// restores the generator's previous CPU state afterwards so that building a model does not silently
/// re-seed randomness the caller relies on (shuffling, sampling). Randomness drawn from the default
/// generator by code that does not take this lock can still interleave; code that needs reproducible
/// randomness alongside model construction should use its own torch.Generator.
/// </remarks>
public static class ModelFactory
{
    private static readonly Lock GlobalGeneratorLock = new();

    /// <summary>
    /// Builds the model named by <paramref name="spec"/>; the same spec and seed give bit-identical
    /// parameters regardless of the calling thread or of models built before.
    /// </summary>
    public static nn.Module<Tensor, Tensor> Create(ModelSpec spec, long seed)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return Seeded<nn.Module<Tensor, Tensor>>(seed, () => spec.Name switch
        {
            ModelSpec.GptName => new Gpt(spec),
            ModelSpec.MlpName => new Mlp(spec),
            // Unreachable for a validated spec; kept so a new name cannot fall through silently.
            _ => throw new ArgumentException($"Unknown model name '{spec.Name}'.", nameof(spec)),
        });
    }

    /// <summary>
    /// Runs <paramref name="build"/> (anything that draws from the default generator, such as a
    /// TorchSharp layer's constructor) under the same lock, from <paramref name="seed"/>, so that it
    /// neither disturbs nor is disturbed by a model built on another thread.
    /// </summary>
    public static T Seeded<T>(long seed, Func<T> build)
    {
        ArgumentNullException.ThrowIfNull(build);
        lock (GlobalGeneratorLock)
        {
            using var previousState = random.get_rng_state();
            try
            {
                random.manual_seed(seed);
                return build();
            }
            finally
            {
                random.set_rng_state(previousState);
            }
        }
    }

    /// <summary>Total number of scalar parameters (buffers excluded), as PyTorch's sum(p.numel()).</summary>
    public static long CountParameters(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        // The Parameter objects are owned by the module: counting must not dispose them.
        return module.parameters().Sum(p => p.numel());
    }
}
