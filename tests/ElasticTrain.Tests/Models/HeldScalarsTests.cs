using ElasticTrain.Models;
using ElasticTrain.Tests.Support;
using static TorchSharp.torch;

namespace ElasticTrain.Tests.Models;

/// <summary>
/// The operations with held scalars give the plain operators' bits, and survive garbage
/// collections during their native calls, which TorchSharp's own temporaries do not.
/// </summary>
/// <remarks>
/// Measured on the 2-core machine: 20 s of <c>x + y</c> over 4M floats, with another thread
/// collecting without pause, failed 2, 2 and 5 times in three runs (about one add in 3,000; libtorch
/// said "Expected false to be true", a freed scalar read as garbage), while <see cref="HeldScalars.Plus"/>
/// failed none of 36,000. The test runs alone: the collections slow everything beside them.
/// </remarks>
[Collection(nameof(TorchThreadsCollection))]
public class HeldScalarsTests
{
    [Fact]
    public void Each_operation_gives_the_bits_of_the_plain_operator()
    {
        var generator = new Generator(3);
        using var x = randn([4, 5], generator: generator);
        using var y = randn([4, 5], generator: generator);
        using var mask = rand([4, 5], generator: generator).gt(0.5);
        AssertSame(x + y, x.Plus(y));
        AssertSame(x / Math.Sqrt(7), x.DividedBy(Math.Sqrt(7)));
        AssertSame(x * 1024.0, x.Times(1024.0));
        AssertSame(x.masked_fill(mask, double.NegativeInfinity), x.masked_fill(mask, HeldScalars.NegativeInfinity));
        AssertSame(arange(6, dtype: ScalarType.Int64), HeldScalars.Positions(6, CPU));
    }

    [Fact]
    public void A_sum_survives_collections_during_its_native_call()
    {
        using var x = ones(4_000_000);
        using var y = ones(4_000_000);
        var stop = false;
        var collector = new Thread(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        });
        collector.Start();
        var failures = new List<string>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            while (clock.Elapsed < TimeSpan.FromSeconds(4))
            {
                try
                {
                    using var sum = x.Plus(y);
                }
                catch (Exception e)
                {
                    failures.Add(e.Message);
                }
            }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            collector.Join();
        }
        Assert.Empty(failures);
    }

    private static void AssertSame(Tensor expected, Tensor actual)
    {
        using (expected)
        using (actual)
        {
            Assert.Equal(expected.dtype, actual.dtype);
            Assert.Equal(expected.bytes.ToArray(), actual.bytes.ToArray());
        }
    }
}
