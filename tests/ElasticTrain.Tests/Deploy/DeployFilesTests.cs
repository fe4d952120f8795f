using System.Net;
using System.Text.Json;
using ElasticTrain.Cli.Hosting;
using ElasticTrain.Configuration;
using YamlDotNet.RepresentationModel;
using static ElasticTrain.Tests.Deploy.DeployFiles;

namespace ElasticTrain.Tests.Deploy;

/// <summary>
/// deploy/ cannot run here (no containers, no cluster), so every command line, flag, config key,
/// port and environment variable in it is checked against the real CLI: a renamed flag or key, a
/// probe on a path the node does not serve, or a variable the config no longer reads fails here.
/// </summary>
public class DeployFilesTests
{
    private static string Deploy(string relative) => Path.Combine(Folder, relative);

    /// <summary>The compose file's node services: those built from deploy/Dockerfile.</summary>
    private static IEnumerable<(string Name, YamlNode Service)> ComposeNodes() =>
        ((YamlMappingNode)Documents(Deploy("compose.yaml"))[0].At("services")).Children
            .Where(s => s.Value.Get("build") is { } build && build.Text("dockerfile") == "deploy/Dockerfile")
            .Select(s => (((YamlScalarNode)s.Key).Value!, s.Value));

    private static Dictionary<string, string> ComposeEnvironment(YamlNode service) =>
        ((YamlMappingNode)service.At("environment")).Children.ToDictionary(e => ((YamlScalarNode)e.Key).Value!, e => ((YamlScalarNode)e.Value).Value!);

    /// <summary>Container path to repository file, from "./file:/container/path[:ro]" volumes.</summary>
    private static Dictionary<string, string> ComposeMounts(YamlNode service) => service.Words("volumes")
        .Select(v => v.Split(':'))
        .Where(parts => parts[0].StartsWith("./", StringComparison.Ordinal))
        .ToDictionary(parts => parts[1], parts => Deploy(parts[0][2..]));

    private static YamlNode KubernetesResource(string kind) =>
        Directory.GetFiles(Deploy("kubernetes"), "*.yaml").SelectMany(Documents).Single(d => d.Get("kind") is YamlScalarNode k && k.Value == kind);

    [Fact]
    public void Every_file_in_deploy_is_one_these_tests_check()
    {
        var kustomized = Documents(Deploy("kubernetes/kustomization.yaml"))[0];
        string[] known =
        [
            "README.md", "Dockerfile", "Dockerfile.dockerignore", "compose.yaml", "job.conf", "kubernetes/kustomization.yaml",
            .. kustomized.Words("resources").Select(r => $"kubernetes/{r}"),
            .. kustomized.Items("configMapGenerator").SelectMany(g => g.Words("files")).Select(f => $"kubernetes/{f}"),
        ];
        var present = Directory.GetFiles(Folder, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(Folder, f)).Order(StringComparer.Ordinal);
        Assert.Equal(known.Order(StringComparer.Ordinal), present);
    }

    [Fact]
    public async Task Every_shipped_config_loads_with_the_strict_key_check()
    {
        foreach (var file in Directory.GetFiles(Folder, "*.conf", SearchOption.AllDirectories))
        {
            var environment = EnvironmentSubstitution.Names(File.ReadAllText(file)).ToDictionary(name => name, name => name == "ELASTICTRAIN_STORE" ? "Host=db" : "10.0.0.1");
            var result = await CheckAsync(["train", "--config", "/job.conf"], environment, new Dictionary<string, string> { ["/job.conf"] = file });
            Assert.StartsWith("ok: train job ", result.Line);
        }
    }

    [Fact]
    public async Task The_Dockerfile_runs_as_non_root_fixes_libstdcxx_for_the_runtime_image_and_defaults_to_the_compose_command()
    {
        // Instructions, with continuation lines joined and comments left out.
        var instructions = File.ReadAllText(Deploy("Dockerfile")).Replace("\\\n", " ").Split('\n')
            .Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => (Op: l.Split(' ', 2)[0], Args: l.Split(' ', 2).ElementAtOrDefault(1) ?? "")).ToList();
        var stages = instructions.Where(i => i.Op == "FROM").Select(i => i.Args.Split(" AS ")).ToList();
        var runtimeStage = stages[^1][0];
        Assert.Contains(stages, s => s.Length == 2 && s[1] == runtimeStage);

        var final = instructions.Skip(instructions.FindLastIndex(i => i.Op == "FROM")).ToList();
        var user = final.Last(i => i.Op == "USER").Args;
        Assert.DoesNotContain(user, new[] { "root", "0", "0:0" });

        // The fix judges by the runtime stage's libstdc++, copied into the build, through the
        // property Directory.Build.targets passes to the task.
        var copied = instructions.Single(i => i.Op == "COPY" && i.Args.StartsWith($"--from={runtimeStage} ", StringComparison.Ordinal) && i.Args.Contains("libstdc++"));
        var publish = instructions.Single(i => i.Op == "RUN" && i.Args.StartsWith("dotnet publish ", StringComparison.Ordinal)).Args.Split(' ');
        Assert.Contains($"-p:TargetLibstdcxx={copied.Args.Split(' ')[^1]}", publish);
        Assert.Contains("Libstdcxx=\"$(TargetLibstdcxx)\"", File.ReadAllText(Path.Combine(RepositoryRoot.Find(), "Directory.Build.targets")));
        Assert.True(Directory.Exists(Path.Combine(RepositoryRoot.Find(), publish[2])), $"dotnet publish {publish[2]}: no such project folder");

        Assert.Equal(["elastictrain"], JsonSerializer.Deserialize<string[]>(final.Single(i => i.Op == "ENTRYPOINT").Args)!);
        var command = JsonSerializer.Deserialize<string[]>(final.Single(i => i.Op == "CMD").Args)!;
        var (_, node1) = ComposeNodes().First();
        Assert.Equal(node1.Words("command"), command);
        var result = await CheckAsync(command, ComposeEnvironment(node1), ComposeMounts(node1));
        var exposed = final.Single(i => i.Op == "EXPOSE").Args.Split(' ').Select(int.Parse).Order();
        Assert.Equal(new[] { result.ClusterPort, result.DataPlanePort, result.HttpPort!.Value }.Order(), exposed);
    }

    [Fact]
    public async Task Every_compose_node_command_checks_with_its_environment_mounts_ports_and_contact_points()
    {
        var nodes = ComposeNodes().ToList();
        Assert.Equal(3, nodes.Count);
        var endpoints = new List<string>();
        IList<string> listed = [];
        foreach (var (name, service) in nodes)
        {
            var environment = ComposeEnvironment(service);
            var mounts = ComposeMounts(service);
            var result = await CheckAsync(service.Words("command"), environment, mounts);
            Assert.Contains($"ok: node finds its cluster by config discovery", result.Line);
            Assert.Contains(service.Words("ports"), p => p.EndsWith($":{result.HttpPort}", StringComparison.Ordinal));
            // The variables it sets are exactly those its config reads.
            var config = mounts[service.Words("command")[Array.IndexOf(service.Words("command"), "--config") + 1]];
            Assert.Equal(EnvironmentSubstitution.Names(File.ReadAllText(config)).Order(), environment.Keys.Order());
            Assert.Equal(name, environment["ELASTICTRAIN_HOST"]);
            endpoints.Add($"{name}:{result.ClusterPort}");

            var hocon = HoconFiles.Parse(EnvironmentSubstitution.Apply(File.ReadAllText(config), config, environment.GetValueOrDefault), config);
            listed = hocon.GetStringList($"akka.discovery.config.services.{hocon.GetString("elastictrain.discovery.service-name")}.endpoints");
        }
        // Config discovery lists every node, at the address and port it binds.
        Assert.Equal(endpoints.Order(StringComparer.Ordinal), listed.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task The_kubernetes_statefulset_checks_and_its_ports_probes_labels_account_and_variables_agree()
    {
        var statefulSet = KubernetesResource("StatefulSet");
        var pod = statefulSet.At("spec", "template");
        var container = pod.Items("spec", "containers").Single();
        var secret = KubernetesResource("Secret");
        var environment = container.Items("env").ToDictionary(e => e.Text("name"), e => e.Get("value") is YamlScalarNode literal
            ? literal.Value!
            : e.Get("valueFrom")!.Get("secretKeyRef") is { } secretRef
                ? Assert.IsType<YamlScalarNode>(secret.At("stringData", secretRef.Text("key"))).Value!
                : e.Text("valueFrom", "fieldRef", "fieldPath") == "status.podIP" ? "10.1.2.3" : throw new Xunit.Sdk.XunitException($"{e.Text("name")}: unknown source"));
        Assert.All(container.Items("env").Select(e => e.Get("valueFrom")?.Get("secretKeyRef")).OfType<YamlNode>(), r => Assert.Equal(secret.Text("metadata", "name"), r.Text("name")));

        // The config: a ConfigMap that kustomization.yaml generates from a file here, mounted at --config's folder.
        var generator = Documents(Deploy("kubernetes/kustomization.yaml"))[0].Items("configMapGenerator").Single();
        var volume = pod.Items("spec", "volumes").Single(v => v.Get("configMap") is { } map && map.Text("name") == generator.Text("name"));
        var mountPath = container.Items("volumeMounts").Single(m => m.Text("name") == volume.Text("name")).Text("mountPath");
        var mounts = generator.Words("files").ToDictionary(f => $"{mountPath}/{f}", f => Deploy($"kubernetes/{f}"));

        var result = await CheckAsync(container.Words("args"), environment, mounts);
        Assert.Contains("ok: node finds its cluster by kubernetes discovery of 'elastictrain'", result.Line);
        var config = mounts.Single().Value;
        Assert.Equal(EnvironmentSubstitution.Names(File.ReadAllText(config)).Order(), environment.Keys.Order());
        var hocon = HoconFiles.Parse(EnvironmentSubstitution.Apply(File.ReadAllText(config), config, environment.GetValueOrDefault), config)
            .WithFallback(NodeConfig.Defaults());

        // Ports: discovery finds a pod by the port named port-name, which must be the cluster port.
        var ports = container.Items("ports").ToDictionary(p => p.Text("name"), p => int.Parse(p.Text("containerPort")));
        Assert.Equal(result.ClusterPort, ports[hocon.GetString("elastictrain.discovery.port-name")]);
        Assert.Equal(result.DataPlanePort, ports["data-plane"]);
        Assert.Equal(result.HttpPort, ports["http"]);
        Assert.Equal(ports.OrderBy(p => p.Key), KubernetesResource("Service").Items("spec", "ports").ToDictionary(p => p.Text("name"), p => int.Parse(p.Text("port"))).OrderBy(p => p.Key));

        // Probes: on the HTTP port, on paths the node's HTTP server serves.
        Assert.Equal("/health/live", container.Text("livenessProbe", "httpGet", "path"));
        Assert.Equal("/health/ready", container.Text("readinessProbe", "httpGet", "path"));
        foreach (var probe in new[] { "livenessProbe", "readinessProbe" })
            Assert.Equal(result.HttpPort, ports.GetValueOrDefault(container.Text(probe, "httpGet", "port"), -1));
        await using (var http = await HttpEndpoints.StartAsync("127.0.0.1", 0, Prometheus.Metrics.NewCustomRegistry(), new LiveNode()))
        {
            using var client = new HttpClient { BaseAddress = new Uri(http.Address) };
            foreach (var probe in new[] { "livenessProbe", "readinessProbe" })
                Assert.NotEqual(HttpStatusCode.NotFound, (await client.GetAsync(container.Text(probe, "httpGet", "path"))).StatusCode);
        }

        // preStop drains this pod through itself, at the cluster port.
        var preStop = container.Words("lifecycle", "preStop", "exec", "command");
        Assert.Equal(["/bin/sh", "-c"], preStop[..2]);
        var drains = ElasticTrainCommands(preStop[2], environment);
        Assert.Equal("drain", Assert.Single(drains)[0]);
        var drain = await CheckAsync(drains[0], environment, mounts);
        Assert.Equal($"ok: drain node 10.1.2.3:{result.ClusterPort} through the cluster at 10.1.2.3:{result.ClusterPort}", drain.Line);

        // Labels: discovery selects app=<service-name>; the Service and the budget select the same pods.
        var labels = (YamlMappingNode)pod.At("metadata", "labels");
        Assert.Equal(hocon.GetString("elastictrain.discovery.service-name"), pod.Text("metadata", "labels", "app"));
        Assert.Equal(labels, statefulSet.At("spec", "selector", "matchLabels"));
        Assert.Equal(labels, KubernetesResource("Service").At("spec", "selector"));
        Assert.Equal("None", KubernetesResource("Service").Text("spec", "clusterIP"));
        Assert.Equal(labels, KubernetesResource("PodDisruptionBudget").At("spec", "selector", "matchLabels"));
        Assert.Equal("OrderedReady", statefulSet.Text("spec", "podManagementPolicy"));

        // The pods' account may list pods: what the Kubernetes API discovery asks.
        var account = pod.Text("spec", "serviceAccountName");
        Assert.Equal(account, KubernetesResource("ServiceAccount").Text("metadata", "name"));
        var binding = KubernetesResource("RoleBinding");
        Assert.Contains(binding.Items("subjects"), s => s.Text("kind") == "ServiceAccount" && s.Text("name") == account);
        var role = KubernetesResource("Role");
        Assert.Equal(role.Text("metadata", "name"), binding.Text("roleRef", "name"));
        Assert.Contains(role.Items("rules"), r => r.Words("resources").Contains("pods") && r.Words("verbs").Contains("list"));
        Assert.Equal(KubernetesResource("PersistentVolumeClaim").Text("metadata", "name"),
            pod.Items("spec", "volumes").Single(v => v.Get("persistentVolumeClaim") is not null).Text("persistentVolumeClaim", "claimName"));
    }
}
