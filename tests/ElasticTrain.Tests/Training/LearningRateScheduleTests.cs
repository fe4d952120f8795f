using ElasticTrain.Training;

namespace ElasticTrain.Tests.Training;

/// <summary>
/// The schedules as pure functions of the step. Their agreement with PyTorch's schedulers is in
/// OptimizerReferenceTests; these pin the shapes' ends and corners.
/// </summary>
public class LearningRateScheduleTests
{
    private const double Peak = 1e-3, Min = 1e-4;

    [Fact]
    public void Warmup_climbs_linearly_to_the_peak_at_its_last_step_in_front_of_any_shape()
    {
        foreach (var shape in Enum.GetValues<ScheduleShape>())
        {
            var schedule = new LearningRateSchedule(shape, WarmupSteps: 4, MinLr: Min, DecaySteps: 20, StepSize: 3, RestartSteps: 5);
            Assert.Equal([Peak / 4, Peak / 2, Peak * 3 / 4, Peak], Enumerable.Range(1, 4).Select(k => schedule.At(k, Peak)));
            Assert.Equal(Peak, schedule.At(5, Peak), 15); // the shape's first step starts from the peak
        }
    }

    [Fact]
    public void Cosine_reaches_min_lr_after_decay_steps_minus_warmup_updates_and_stays_there()
    {
        var cosine = new LearningRateSchedule(ScheduleShape.Cosine, WarmupSteps: 10, MinLr: Min, DecaySteps: 110);
        Assert.Equal((Peak + Min) / 2, cosine.At(11 + 50, Peak), 15);  // half way: t = 50 of 100
        Assert.Equal(Min, cosine.At(11 + 100, Peak), 15);
        Assert.Equal(Min, cosine.At(5000, Peak), 15);
        var rates = Enumerable.Range(11, 100).Select(k => cosine.At(k, Peak)).ToList();
        Assert.True(rates.Zip(rates.Skip(1)).All(p => p.Item2 < p.Item1), "cosine must fall at every step until its floor");
    }

    [Fact]
    public void Linear_polynomial_exponential_and_step_decay_as_their_formulas_say()
    {
        Assert.Equal(Min + (Peak - Min) * 0.75, new LearningRateSchedule(ScheduleShape.Linear, MinLr: Min, DecaySteps: 100).At(26, Peak), 15);
        Assert.Equal(Min + (Peak - Min) * 0.25, new LearningRateSchedule(ScheduleShape.Polynomial, MinLr: Min, DecaySteps: 100, Power: 2).At(51, Peak), 15);
        Assert.Equal(Peak * 0.1, new LearningRateSchedule(ScheduleShape.Exponential, DecaySteps: 100, DecayRate: 0.1).At(101, Peak), 15);
        Assert.Equal(Min, new LearningRateSchedule(ScheduleShape.Exponential, MinLr: Min, DecaySteps: 100, DecayRate: 0.01).At(1000, Peak), 15);
        var step = new LearningRateSchedule(ScheduleShape.Step, StepSize: 10, DecayRate: 0.5);
        Assert.Equal([Peak, Peak, Peak / 2, Peak / 4], new long[] { 1, 10, 11, 21 }.Select(k => step.At(k, Peak)));
    }

    [Fact]
    public void Warm_restarts_return_to_the_peak_after_each_period_each_restart_mult_times_longer()
    {
        var restarts = new LearningRateSchedule(ScheduleShape.CosineRestarts, MinLr: Min, RestartSteps: 4, RestartMult: 2);
        // Periods of 4, 8, 16 updates start at t = 0, 4, 12: steps 1, 5 and 13.
        Assert.Equal([Peak, Peak, Peak], new long[] { 1, 5, 13 }.Select(k => restarts.At(k, Peak)));
        Assert.Equal((Peak + Min) / 2, restarts.At(3, Peak), 15);   // t = 2 of 4
        Assert.Equal((Peak + Min) / 2, restarts.At(9, Peak), 15);   // t = 4 of 8 in the second period
    }

    [Fact]
    public void The_constant_schedule_is_the_peak_at_every_step_and_adds_nothing_to_the_identity()
    {
        Assert.All(new long[] { 1, 2, 1000, long.MaxValue / 2 }, k => Assert.Equal(Peak, LearningRateSchedule.Constant.At(k, Peak)));
        Assert.True(LearningRateSchedule.Constant.IsConstant);
        Assert.False(new LearningRateSchedule(ScheduleShape.Constant, WarmupSteps: 1).IsConstant);
    }
}
