using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks.Compression;

/// <summary>
/// Pure: the matrix steps of PowerSGD (Vogels et al. 2019, as in PyTorch's powerSGD_hook) on
/// row-major float spans. A parameter is a [rows, rest] matrix, its first dimension against all
/// the others; the products run in libtorch, the orthonormalization in plain C# so that it gives
/// the same bits wherever it runs (every member orthonormalizes the same summed P).
/// </summary>
public static class PowerSgd
{
    /// <summary>
    /// Whether a parameter of <paramref name="shape"/> travels as a rank-<paramref name="rank"/>
    /// product: at least two dimensions, and (rows + columns)·rank values fewer than rows·columns
    /// (which also means rank &lt; min(rows, columns)). Biases and norms' gains travel whole.
    /// </summary>
    public static bool Compresses(IReadOnlyList<long> shape, int rank, out int rows, out int columns)
    {
        rows = columns = 0;
        if (shape.Count < 2) return false;
        long r = shape[0], c = 1;
        for (int i = 1; i < shape.Count; i++) c *= shape[i];
        rows = (int)r;
        columns = (int)c;
        return (r + c) * rank < r * c;
    }

    /// <summary>The first Q of a matrix: uniform in [-1, 1) from <paramref name="seed"/>, the same on every member.</summary>
    public static float[] InitialQ(int columns, int rank, int seed)
    {
        var random = new Random(seed);
        var q = new float[columns * rank];
        for (int i = 0; i < q.Length; i++) q[i] = (float)(random.NextDouble() * 2 - 1);
        return q;
    }

    /// <summary>P = M Q: [rows, columns] by [columns, rank].</summary>
    public static void Project(ReadOnlySpan<float> m, ReadOnlySpan<float> q, Span<float> p, int rows, int columns, int rank)
    {
        using var scope = NewDisposeScope();
        CopyOut(FromSpan(m, rows, columns).mm(FromSpan(q, columns, rank)), p);
    }

    /// <summary>Q = Mᵀ P: [columns, rows] by [rows, rank].</summary>
    public static void Back(ReadOnlySpan<float> m, ReadOnlySpan<float> p, Span<float> q, int rows, int columns, int rank)
    {
        using var scope = NewDisposeScope();
        CopyOut(FromSpan(m, rows, columns).t().mm(FromSpan(p, rows, rank)), q);
    }

    /// <summary>M̂ = P Qᵀ: [rows, rank] by [rank, columns].</summary>
    public static void Expand(ReadOnlySpan<float> p, ReadOnlySpan<float> q, Span<float> m, int rows, int columns, int rank)
    {
        using var scope = NewDisposeScope();
        CopyOut(FromSpan(p, rows, rank).mm(FromSpan(q, columns, rank).t()), m);
    }

    /// <summary>
    /// Gram-Schmidt on the columns of a [rows, columns] matrix, in double. A column with (almost)
    /// nothing left after the earlier ones are taken out becomes zero rather than noise: it carries
    /// no direction of the sum (PyTorch adds an epsilon to the norm for the same reason).
    /// </summary>
    public static void Orthonormalize(Span<float> matrix, int rows, int columns)
    {
        var a = new double[rows * columns];
        for (int i = 0; i < a.Length; i++) a[i] = matrix[i];
        for (int c = 0; c < columns; c++)
        {
            for (int previous = 0; previous < c; previous++)
            {
                double dot = 0;
                for (int r = 0; r < rows; r++) dot += a[r * columns + c] * a[r * columns + previous];
                for (int r = 0; r < rows; r++) a[r * columns + c] -= dot * a[r * columns + previous];
            }
            double norm = 0;
            for (int r = 0; r < rows; r++) norm += a[r * columns + c] * a[r * columns + c];
            norm = Math.Sqrt(norm);
            double scale = norm > 1e-12 ? 1 / norm : 0;
            for (int r = 0; r < rows; r++) a[r * columns + c] *= scale;
        }
        for (int i = 0; i < a.Length; i++) matrix[i] = (float)a[i];
    }

    private static Tensor FromSpan(ReadOnlySpan<float> values, long rows, long columns)
    {
        var tensor = empty(rows, columns, ScalarType.Float32);
        values[..(int)(rows * columns)].CopyTo(MemoryMarshal.Cast<byte, float>(tensor.bytes));
        return tensor;
    }

    private static void CopyOut(Tensor tensor, Span<float> target)
    {
        using var contiguous = tensor.contiguous();
        MemoryMarshal.Cast<byte, float>(contiguous.bytes).CopyTo(target);
    }
}
