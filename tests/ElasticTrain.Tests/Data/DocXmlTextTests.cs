using ElasticTrain.Data;
using System.Text;

namespace ElasticTrain.Tests.Data;

public class DocXmlTextTests
{
    private const string Sample = """
        <?xml version="1.0" encoding="utf-8"?>
        <doc>
          <assembly><name>Sample</name></assembly>
          <members>
            <member name="T:Sample.A">
              <summary>Wraps a <see cref="T:System.String" /> and
                   returns <see langword="null" /> when <paramref name="value" /> is empty.</summary>
              <typeparam name="T">The <typeparamref name="T" /> type.</typeparam>
              <returns>A new <see cref="M:System.Collections.Generic.List`1.#ctor(System.Int32)" />.</returns>
            </member>
            <member name="T:Sample.Blank">
              <summary>   </summary>
            </member>
            <member name="M:Sample.B"><summary>First.</summary><remarks>Second <c>null</c>.</remarks><see cref="T:X">custom&#x20;text</see></member>
            <member name="M:Sample.C">
              <summary>Escaped &lt;T&gt; stays, <![CDATA[as does <this>]]>.</summary>
            </member>
          </members>
        </doc>
        """;

    [Fact]
    public void Each_member_becomes_one_line_of_its_text_with_references_as_words()
    {
        using var temp = new TempFolder();
        string file = temp.Write("Sample.xml", Sample);
        var text = new StringBuilder();

        DocXmlText.AppendMembers(file, text);

        Assert.Equal(
            "Wraps a String and returns null when value is empty. The T type. A new List.\n" +
            "First. Second null. custom text\n" +
            "Escaped <T> stays, as does <this>.\n",
            text.ToString());
    }

    [Theory]
    [InlineData("T:System.String", "String")]
    [InlineData("M:System.String.Concat(System.Object,System.Object)", "Concat")]
    [InlineData("T:System.Collections.Generic.List`1", "List")]
    [InlineData("M:System.Linq.Enumerable.Select``2(System.Func{``0,``1})", "Select")]
    [InlineData("M:System.Uri.#ctor(System.String)", "Uri")]
    [InlineData("P:System.Array.Length", "Length")]
    [InlineData("Plain", "Plain")]
    public void A_cref_reads_as_its_short_name(string cref, string expected)
    {
        Assert.Equal(expected, DocXmlText.ShortName(cref));
    }
}
