using ElasticTrain.Data;
namespace ElasticTrain.Tests.Data;

public class ReferencePackTests
{
    private const string Doc = """<doc><members><member name="T:A"><summary>Docs of VERSION.</summary></member></members></doc>""";

    [Fact]
    public void The_highest_pack_version_wins_numerically_and_a_release_beats_its_previews()
    {
        using var temp = new TempFolder();
        foreach (string version in new[] { "9.0.5", "10.0.2", "10.0.12", "10.0.12-rc.1.25451.107", "junk" })
        {
            temp.Write($"packs/Microsoft.NETCore.App.Ref/{version}/ref/net10.0/A.xml", Doc.Replace("VERSION", version, StringComparison.Ordinal));
        }

        var pack = ReferencePack.FindUnder(temp.Path);

        Assert.NotNull(pack);
        Assert.Equal("10.0.12", pack.Version);
        Assert.Equal("net10.0", pack.Tfm);
    }

    [Fact]
    public void Files_are_taken_in_ordinal_order_of_name_and_only_from_the_highest_tfm()
    {
        using var temp = new TempFolder();
        const string Root = "packs/Microsoft.NETCore.App.Ref/10.0.1/ref/";
        temp.Write(Root + "net10.0/b.xml", Doc);
        temp.Write(Root + "net10.0/B.xml", Doc);
        temp.Write(Root + "net10.0/a.xml", Doc);
        temp.Write(Root + "net10.0/a.dll", "not docs");
        temp.Write(Root + "net9.0/z.xml", Doc);

        var pack = ReferencePack.FindUnder(temp.Path);

        Assert.NotNull(pack);
        Assert.Equal(["B.xml", "a.xml", "b.xml"], pack.XmlFiles.Select(Path.GetFileName));
    }

    [Fact]
    public void A_root_without_a_reference_pack_has_none()
    {
        using var temp = new TempFolder();
        Directory.CreateDirectory(Path.Combine(temp.Path, "shared", "Microsoft.NETCore.App", "10.0.12"));
        Assert.Null(ReferencePack.FindUnder(temp.Path));
    }

    [Fact]
    public void No_reference_pack_is_a_data_error_that_says_what_to_do()
    {
        var error = Assert.Throws<DataException>(() => DefaultCorpus.Load(cacheDirectory: null, found: null));
        Assert.Equal("no default corpus: the .NET SDK reference pack was not found; pass --data PATH", error.Message);
    }

    [Fact]
    public void A_broken_documentation_file_is_a_data_error_naming_the_file()
    {
        using var temp = new TempFolder();
        temp.Write("packs/Microsoft.NETCore.App.Ref/10.0.1/ref/net10.0/a.xml", Doc);
        string broken = temp.Write("packs/Microsoft.NETCore.App.Ref/10.0.1/ref/net10.0/b.xml", "<doc><members><member>");
        var pack = ReferencePack.FindUnder(temp.Path)!;

        var error = Assert.Throws<DataException>(() => DefaultCorpus.Load(cacheDirectory: null, found: pack));

        Assert.StartsWith($"no default corpus: cannot read '{broken}'", error.Message, StringComparison.Ordinal);
    }
}
