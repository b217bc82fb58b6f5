namespace P2V.Imaging.Tests;

/// <summary>The managed SHA-256 against coreutils' sha256sum, at every padding boundary of FIPS 180-4 §5.1.1.</summary>
public sealed class Sha256Tests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(55)]
    [InlineData(56)]
    [InlineData(57)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(65)]
    [InlineData(119)]
    [InlineData(120)]
    [InlineData(128)]
    [InlineData(1000)]
    [InlineData((1 << 20) + 3)]
    public void Matches_sha256sum(int length)
    {
        var data = new byte[length];
        new Random(length).NextBytes(data);
        var file = _tmp.File($"data-{length}");
        File.WriteAllBytes(file, data);
        Assert.Equal(ExternalTool.Run("sha256sum", file).Split(' ')[0], Sha256.HexOf(data));
    }
}
