using ElasticTrain.Models;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using ElasticTrain.Ranks.Optimization;
using ElasticTrain.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ElasticTrain.Tests.Training;

/// <summary>
/// Our optimizers and learning-rate schedules against PyTorch's: Reference/make_reference.py ran
/// each case's 20 steps on a tiny model in PyTorch 1.13 and wrote the learning rates its
/// schedulers gave and the parameters it ended with into Reference/optimizers.json (checked in, as
/// CI has no PyTorch). Here the same model starts from the same values, takes the same batches
/// through <see cref="PartOptimizer"/> at <see cref="LearningRateSchedule.At"/>'s rates, and must
/// end where PyTorch did, element by element, within float32's drift over 20 steps.
/// </summary>
public class OptimizerReferenceTests(ITestOutputHelper output)
{
    private const double Relative = 1e-5, Absolute = 1e-7;

    /// <summary>The schedule's rate against the scheduler's: both are double arithmetic, so only rounding may differ.</summary>
    private const double RateRelative = 1e-9;

    private const int Batch = 5, Inputs = 6, Hidden = 8, Outputs = 4;

    private static readonly Lazy<Reference> Recorded = new(Read);

    public static TheoryData<string> CaseNames => [.. Recorded.Value.Cases.Select(c => c.Name)];

    [Fact]
    public void The_reference_covers_every_optimizer_and_every_schedule_shape()
    {
        var cases = Recorded.Value.Cases;
        Assert.Equal(Enum.GetValues<OptimizerKind>().Order(), cases.Select(c => Settings(c).Kind).Distinct().Order());
        Assert.Equal(Enum.GetValues<ScheduleShape>().Order(), cases.Select(c => Schedule(c).Shape).Distinct().Order());
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void The_schedule_gives_the_rate_PyTorchs_scheduler_gave_at_every_step(string name)
    {
        var reference = Find(name);
        var schedule = Schedule(reference);
        for (var step = 1; step <= Recorded.Value.Steps; step++)
        {
            double ours = schedule.At(step, reference.Lr), theirs = reference.Rates[step - 1];
            Assert.True(Math.Abs(ours - theirs) <= RateRelative * Math.Abs(theirs),
                $"{name}: step {step} runs at {R(ours)}, PyTorch's scheduler gave {R(theirs)}");
        }
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Twenty_steps_end_at_PyTorchs_parameters(string name)
    {
        var reference = Find(name);
        var parameters = Train(reference);

        var worst = (Excess: 0.0, Message: "");
        var maxRelative = 0.0;
        foreach (var (parameter, theirs) in reference.Final)
        {
            var ours = parameters[parameter];
            Assert.Equal(theirs.Length, ours.Length);
            for (var i = 0; i < ours.Length; i++)
            {
                var error = Math.Abs(ours[i] - theirs[i]);
                var allowed = Absolute + Relative * Math.Abs(theirs[i]);
                if (theirs[i] != 0) maxRelative = Math.Max(maxRelative, error / Math.Abs(theirs[i]));
                if (error / allowed > worst.Excess)
                    worst = (error / allowed, $"{name}: parameter {parameter} element {i} is {R(ours[i])}, PyTorch's {R(theirs[i])} " +
                        $"(off by {R(error)}, {error / allowed:F2} times the allowed {R(allowed)})");
            }
        }
        output.WriteLine($"{name}: max relative error {maxRelative:E2}; worst element at {worst.Excess:F3} of its tolerance");
        Assert.True(worst.Excess <= 1, worst.Message);
    }

    /// <summary>
    /// The script's loop: zero the gradients, forward, backward, clip the global norm as
    /// clip_grad_norm_ does, step at the schedule's rate. Returns each parameter's final values.
    /// </summary>
    private static Dictionary<string, double[]> Train(Case reference)
    {
        var file = Recorded.Value;
        // Named as PyTorch's nn.Sequential names its children, so that the parameters' names match.
        // Built under the models' lock: its draws (overwritten below) must not interleave with a model built meanwhile.
        using var model = ModelFactory.Seeded(0, () => nn.Sequential(
            ("0", nn.Linear(Inputs, Hidden)), ("1", nn.LayerNorm(Hidden)), ("2", nn.Tanh()), ("3", nn.Linear(Hidden, Outputs))));
        var named = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.Equal(file.Initial.Keys.Order(), named.Keys.Order());
        using (no_grad())
            foreach (var (parameter, initial) in file.Initial)
                named[parameter].copy_(tensor(initial.Values).reshape(initial.Shape));

        var schedule = Schedule(reference);
        using var optimizer = PartOptimizer.Create(Settings(reference), reference.WeightDecay, [.. model.parameters()]);
        for (var step = 1; step <= file.Steps; step++)
        {
            using var scope = NewDisposeScope();
            var batch = file.Batches[step - 1];
            optimizer.ZeroGrad();
            var loss = nn.functional.mse_loss(model.forward(tensor(batch.X).reshape(Batch, Inputs)), tensor(batch.Y).reshape(Batch, Outputs));
            loss.backward();
            var coefficient = UpdateRule.ClipCoefficient(Math.Sqrt(named.Values.Sum(p => p.grad!.to(float64).square().sum().item<double>())), reference.Clip);
            if (coefficient < 1)
                using (no_grad())
                    foreach (var p in named.Values) p.grad!.mul_(coefficient);
            optimizer.Step(schedule.At(step, reference.Lr));
        }
        return named.ToDictionary(p => p.Key, p => p.Value.data<float>().Select(v => (double)v).ToArray());
    }

    private static OptimizerSettings Settings(Case reference)
    {
        var o = reference.Optimizer;
        var kind = OptimizerSettings.Names[o.Kind];
        return new OptimizerSettings(kind, Eps: OptimizerSettings.DefaultEps(kind), Momentum: o.Momentum, Dampening: o.Dampening,
            Nesterov: o.Nesterov, Alpha: o.Alpha, Centered: o.Centered, LrDecay: o.LrDecay, InitialAccumulator: o.InitialAccumulator,
            DecayBiasesAndNorms: o.DecayBiasesAndNorms);
    }

    private static LearningRateSchedule Schedule(Case reference)
    {
        var s = reference.Schedule;
        return new LearningRateSchedule(LearningRateSchedule.Names[s.Shape], s.WarmupSteps, s.MinLr, s.DecaySteps, s.Power,
            s.DecayRate, s.StepSize, s.RestartSteps, s.RestartMult);
    }

    private static Case Find(string name) => Recorded.Value.Cases.Single(c => c.Name == name);

    private static string R(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static Reference Read()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("ElasticTrain.Tests.Training.optimizers.json")
            ?? throw new InvalidOperationException("reference resource missing");
        return JsonSerializer.Deserialize<Reference>(stream, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower })
            ?? throw new InvalidOperationException("empty reference");
    }

    // The JSON's shape; absent keys take PyTorch's defaults, which are also OptimizerSettings' and LearningRateSchedule's.
    private sealed record Reference(int Steps, Dictionary<string, InitialTensor> Initial, List<BatchValues> Batches, List<Case> Cases);

    private sealed record InitialTensor(long[] Shape, float[] Values);

    private sealed record BatchValues(float[] X, float[] Y);

    private sealed record Case(string Name, OptimizerJson Optimizer, ScheduleJson Schedule, double Lr, double WeightDecay, double? Clip,
        double[] Rates, Dictionary<string, double[]> Final);

    private sealed record OptimizerJson(string Kind, bool DecayBiasesAndNorms = true, double Momentum = 0, double Dampening = 0,
        bool Nesterov = false, double Alpha = 0.99, bool Centered = false, double LrDecay = 0, double InitialAccumulator = 0);

    private sealed record ScheduleJson(string Shape, long WarmupSteps = 0, double MinLr = 0, long DecaySteps = 0, double Power = 1,
        double DecayRate = 0.1, long StepSize = 1, long RestartSteps = 1, int RestartMult = 1);
}
