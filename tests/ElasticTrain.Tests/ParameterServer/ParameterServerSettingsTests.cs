using ElasticTrain.Configuration;
using ElasticTrain.ParameterServer;
using ElasticTrain.Training;
using static ElasticTrain.Tests.Support.TestSettings;

namespace ElasticTrain.Tests.ParameterServer;

/// <summary>elastictrain.collective = ps and elastictrain.ps as a node reads them, what enters the job's identity, and what is refused.</summary>
public class ParameterServerSettingsTests
{
    private static ParameterServerSettings? Ps(string hocon) => Read(hocon).Recipe.ParameterServer;

    [Fact]
    public void All_reduce_is_the_default_and_ps_defaults_to_bsp_with_a_shard_per_rank_on_every_node()
    {
        Assert.Null(Read().Recipe.ParameterServer);
        Assert.Null(Ps("elastictrain.ps.consistency = asp"));
        var ps = Ps("elastictrain.collective = ps");
        Assert.Equal(new ParameterServerSettings(null, Consistency.Bsp, 0, 0, "node"), ps);
        Assert.Equal("ps", Read("elastictrain.collective = ps").Collective);
        Assert.Equal((3, 1), (ps!.ShardsFor(3), ps.ShardsFor(0)));
        Assert.Equal("parameter server (bsp, a shard per rank)", ps.Describe());
    }

    [Fact]
    public void Every_key_is_read_and_the_staleness_is_kept_for_ssp_alone()
    {
        var ssp = Ps("elastictrain { collective = ps, ps { shards = 4, consistency = ssp, staleness = 3, dc-lambda = 0.04, role = server } }");
        Assert.Equal(new ParameterServerSettings(4, Consistency.Ssp, 3, 0.04, "server"), ssp);
        Assert.Equal(4, ssp!.ShardsFor(2));
        Assert.Equal("parameter server (ssp(3), 4 shards, dc-lambda 0.04)", ssp.Describe());
        // The default staleness of 2 is always there: bsp and asp have none, as the gate wants.
        Assert.Equal(0, Ps("elastictrain { collective = ps, ps { consistency = asp, staleness = 5 } }")!.Staleness);
        Assert.Equal(0, Ps("elastictrain { collective = ps, ps.staleness = 5 }")!.Staleness);
        Assert.Equal("parameter server (bsp, 1 shard)", Ps("elastictrain { collective = ps, ps.shards = 1 }")!.Describe());
    }

    [Fact]
    public void Ps_mode_makes_stages_auto_one_and_the_recipe_says_so()
    {
        var settings = Read("elastictrain { collective = ps, ps.shards = 2 }");
        Assert.Equal(1, settings.Mesh.Stages);
        Assert.Equal("parameter server (bsp, 2 shards)", settings.Recipe.Describe());
        Assert.Equal(1, Read("elastictrain { collective = ps, parallel.stages = 1 }").Mesh.Stages);
    }

    [Theory]
    [InlineData("elastictrain.collective = nccl", "elastictrain.collective must be one of ring, ps, not 'nccl'")]
    [InlineData("elastictrain { collective = ps, ps.consistency = eventual }", "elastictrain.ps.consistency must be one of bsp, ssp, asp, not 'eventual'")]
    [InlineData("elastictrain { collective = ps, ps.shards = 0 }", "elastictrain.ps.shards must be at least 1, not 0")]
    [InlineData("elastictrain { collective = ps, ps.shards = many }", "elastictrain.ps.shards must be a whole number, not 'many'")]
    [InlineData("elastictrain { collective = ps, ps { consistency = ssp, staleness = -1 } }", "elastictrain.ps.staleness must be at least 0, not -1")]
    [InlineData("elastictrain { collective = ps, ps.staleness = -1 }", "elastictrain.ps.staleness must be at least 0, not -1")]
    [InlineData("elastictrain { collective = ps, ps { consistency = asp, dc-lambda = -0.1 } }", "elastictrain.ps.dc-lambda must be 0 (off) or more, not -0.1")]
    [InlineData("elastictrain { collective = ps, ps.dc-lambda = 0.04 }", "elastictrain.ps.dc-lambda (0.04) needs elastictrain.ps.consistency ssp or asp: under bsp no gradient is stale, so there is nothing to compensate")]
    [InlineData("elastictrain { collective = ps, ps.role = \"\" }", "elastictrain.ps.role must name the cluster role of the nodes that host shards (every node has 'node')")]
    [InlineData("elastictrain { collective = ps, parallel.stages = 2 }", "elastictrain.collective = ps needs plain data parallelism: elastictrain.parallel.stages must be 1 or auto, not 2")]
    [InlineData("elastictrain { collective = ps, job.compression = fp16 }", "elastictrain.job.compression must be none with elastictrain.collective = ps, not 'fp16'")]
    [InlineData("elastictrain { collective = ps, job.precision = fp16, ps.consistency = ssp }", "elastictrain.job.precision fp16 needs elastictrain.ps.consistency bsp with elastictrain.collective = ps: a step computed ahead cannot know the loss scale the overflows before it set; use bsp, or fp32 or bf16")]
    [InlineData("elastictrain { collective = ps, job.precision = fp16, ps.consistency = asp }", "elastictrain.job.precision fp16 needs elastictrain.ps.consistency bsp with elastictrain.collective = ps: a step computed ahead cannot know the loss scale the overflows before it set; use bsp, or fp32 or bf16")]
    public void A_bad_value_or_a_combination_shards_cannot_run_is_one_line_naming_the_keys(string hocon, string message) =>
        Assert.Equal(message, Assert.Throws<SettingsException>(() => Read(hocon)).Message);

    [Fact]
    public void What_ps_cannot_run_is_refused_only_in_ps_mode()
    {
        var settings = Read("elastictrain { ps.dc-lambda = 0.04, parallel.stages = 2, job { compression = fp16, precision = fp16, optimizer.name = lamb } }");
        Assert.Null(settings.Recipe.ParameterServer);
        Assert.Equal(2, settings.Mesh.Stages);
        // bf16 needs no loss scale, fp16's is known before a bsp step, and LAMB's ratios are added up across the shards.
        Assert.Equal(Precision.Bf16, Read("elastictrain { collective = ps, job.precision = bf16 }").Recipe.Precision);
        Assert.Equal(Precision.Fp16, Read("elastictrain { collective = ps, job.precision = fp16 }").Recipe.Precision);
        Assert.Equal(OptimizerKind.Lamb, Read("elastictrain { collective = ps, job.optimizer.name = lamb }").Recipe.Optimizer.Kind);
    }

    [Fact]
    public void Bsp_keeps_all_reduces_identity_while_ssp_asp_and_compensation_change_it_and_shards_do_not()
    {
        var job = Read().Job;
        string Hash(string hocon) => job.IdentityHash("data-1", Read(hocon).Recipe);
        var allReduce = Hash("");
        Assert.Equal(allReduce, Hash("elastictrain.collective = ps"));
        Assert.Equal(allReduce, Hash("elastictrain { collective = ps, ps { shards = 7, role = server } }"));
        Assert.Equal("", Read("elastictrain.collective = ps").Recipe.Canonical);

        Assert.Equal("consistency=ssp:2", Read("elastictrain { collective = ps, ps.consistency = ssp }").Recipe.Canonical);
        Assert.Equal("consistency=ssp:3,dc=0.04", Read("elastictrain { collective = ps, ps { consistency = ssp, staleness = 3, dc-lambda = 0.04 } }").Recipe.Canonical);
        Assert.Equal("consistency=asp", Read("elastictrain { collective = ps, ps.consistency = asp }").Recipe.Canonical);
        Assert.Equal("consistency=asp,dc=0.04", Read("elastictrain { collective = ps, ps { consistency = asp, dc-lambda = 0.04 } }").Recipe.Canonical);

        string[] changes =
        [
            "elastictrain { collective = ps, ps.consistency = ssp }",
            "elastictrain { collective = ps, ps { consistency = ssp, staleness = 3 } }",
            "elastictrain { collective = ps, ps { consistency = ssp, dc-lambda = 0.04 } }",
            "elastictrain { collective = ps, ps.consistency = asp }",
            "elastictrain { collective = ps, ps { consistency = asp, dc-lambda = 0.04 } }",
        ];
        Assert.Equal(changes.Length, changes.Select(Hash).Append(allReduce).Distinct().Count() - 1);
        Assert.Equal(Hash(changes[3]), Hash("elastictrain { collective = ps, ps { consistency = asp, shards = 3 } }"));
    }
}
