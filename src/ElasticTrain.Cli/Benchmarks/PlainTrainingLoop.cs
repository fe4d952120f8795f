using System.Diagnostics;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Jobs;
using ElasticTrain.Models;
using ElasticTrain.Ranks;
using TorchSharp;
using static TorchSharp.torch;

namespace ElasticTrain.Cli.Benchmarks;

/// <summary>
/// The baseline of <c>bench train --plain</c>: the job's training step as a bare loop in this
/// process, on the given libtorch threads, with no actors, no exchange and no journal. The math is a rank's:
/// the same model from the same seed, the same batches from the seeded schedule, the summed
/// per-sample loss, its gradient divided by the global batch, AdamW with the settings
/// <see cref="Replica"/> uses.
/// </summary>
public static class PlainTrainingLoop
{
    /// <summary>Runs steps 1..<paramref name="steps"/>; <paramref name="progress"/> gets a line every tenth step.</summary>
    public static IReadOnlyList<BenchStep> Run(JobConfig job, JobData data, int threads, int steps, TextWriter progress, CancellationToken cancellation)
    {
        TorchRuntime.Configure(MklKernelChoice.Auto);
        TorchRuntime.UseThreads(threads);
        using var model = ModelFactory.Create(Replica.SpecOf(job), job.Seed);
        var parameters = model.parameters().ToList();
        using var optimizer = optim.AdamW(parameters, lr: job.LearningRate, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: job.WeightDecay);
        var scale = 1.0 / job.GlobalBatch;
        var records = new List<BenchStep>(steps);
        var clock = Stopwatch.StartNew();
        for (long step = 1; step <= steps; step++)
        {
            cancellation.ThrowIfCancellationRequested();
            var start = clock.Elapsed.TotalMilliseconds;
            double lossSum, forwardEnd, backwardEnd;
            using (NewDisposeScope())
            {
                // Global steps are 1-based; the schedule counts from 0.
                var ids = data.Schedule.StepSampleIds(step - 1);
                var (input, target) = Batch.FromWindows(data.Dataset.ReadWindows(ids), ids.Length, job.Block + 1);
                var loss = LanguageModelLoss.SumOfSampleMeans(model.call(input), target);
                lossSum = loss.item<float>();
                forwardEnd = clock.Elapsed.TotalMilliseconds;
                optimizer.zero_grad();
                loss.backward();
                backwardEnd = clock.Elapsed.TotalMilliseconds;
                using (no_grad())
                using (Scalar held = scale) // held until the calls are done (see HeldScalars)
                {
                    foreach (var parameter in parameters) parameter.grad?.mul_(held);
                }
                optimizer.step();
            }
            var end = clock.Elapsed.TotalMilliseconds;
            records.Add(new BenchStep(step, 1, end, end - start, 0));
            if (step % 10 == 0 || step == steps)
                progress.WriteLine(FormattableString.Invariant(
                    $"step {step}/{steps} loss {lossSum / job.GlobalBatch:0.0000} step_ms {end - start:0.0} (forward {forwardEnd - start:0.0}, backward {backwardEnd - forwardEnd:0.0}, optimizer {end - backwardEnd:0.0})"));
        }
        return records;
    }
}
