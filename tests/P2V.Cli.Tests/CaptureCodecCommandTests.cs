using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace P2V.Cli.Tests;

/// <summary>
/// `p2v capture --codec lz4|zstd|auto` as a user runs it: into a file, through a pipe, into the store over HTTP;
/// restore and `image verify` read every codec; the restored disk compared with cmp and qemu-img.
/// </summary>
public sealed class CaptureCodecCommandTests : IDisposable
{
    private const string Token = "codec-test-token";
    private readonly TempDirectory _tmp = new();
    private Process? _server;

    public void Dispose()
    {
        if (_server is { HasExited: false }) { _server.Kill(entireProcessTree: true); _server.WaitForExit(); }
        _tmp.Dispose();
    }

    private static ExternalTool.Result P2v(params string[] args) =>
        ExternalTool.RunWith("env", ["P2V_TOKEN=" + Token, "dotnet", P2vProcess.Dll, .. args], stdin: null, check: false);

    /// <summary>An NTFS volume (mkntfs) holding text-like and random files (ntfscp): chunks that compress, and chunks that do not.</summary>
    private string Volume()
    {
        var path = _tmp.File("vol.img");
        using (var f = File.Create(path)) f.SetLength(48L << 20);
        ExternalTool.Run("mkntfs", "-F", "-Q", "-q", "-c", "4096", path);
        var rng = new Random(12);
        var words = new[] { "server ", "config ", "registry ", "service ", "0x1f2e3d4c ", "error ", "\r\n" };
        for (int i = 0; i < 4; i++)
        {
            var local = _tmp.File($"f{i}");
            if (i == 3)
            {
                var random = new byte[3 << 20];
                rng.NextBytes(random);
                File.WriteAllBytes(local, random);
            }
            else File.WriteAllText(local, string.Concat(Enumerable.Range(0, 500_000).Select(_ => words[rng.Next(words.Length)])));
            ExternalTool.Run("ntfscp", "-f", path, local, $"/f{i}.txt");
        }
        return path;
    }

    private void AssertRestoresIdentically(string image, string volume)
    {
        // `image verify` reads image files; a store's images are verified chunk by chunk as they are restored.
        if (image.EndsWith(".p2v", StringComparison.Ordinal))
        {
            var verify = P2v("image", "verify", image);
            Assert.True(verify.ExitCode == 0, verify.StdErr);
        }
        var restored = _tmp.File($"restored-{Guid.NewGuid():N}.img");
        var restore = P2v("restore", image, restored);
        Assert.True(restore.ExitCode == 0, restore.StdErr);
        // mkntfs leaves the free space zero, so the used data restored is the whole volume.
        Assert.Equal(0, ExternalTool.Try("cmp", volume, restored).ExitCode);
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", volume, restored));
    }

    [Theory]
    [InlineData("lz4")]
    [InlineData("zstd")]
    [InlineData("auto")]
    public void EveryCodecCapturesAndRestores(string codec)
    {
        var volume = Volume();
        var image = _tmp.File($"{codec}.p2v");
        var capture = P2v("capture", volume, "-o", image, "--codec", codec, "--json");
        Assert.True(capture.ExitCode == 0, capture.StdErr);
        AssertRestoresIdentically(image, volume);
    }

    [Fact]
    public void ZstdThroughAPipeIsSmallerThanLz4AndRestores()
    {
        var volume = Volume();
        var lz4 = _tmp.File("lz4.p2v");
        var zstd = _tmp.File("zstd.p2v");
        var auto = _tmp.File("auto.p2v");
        var r = P2vProcess.Shell($"$P2V capture '{volume}' -o - --codec lz4 > '{lz4}' && $P2V capture '{volume}' -o - --codec auto | cat > '{auto}' && $P2V capture '{volume}' -o - --codec zstd | cat > '{zstd}'");
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.True(new FileInfo(zstd).Length < new FileInfo(lz4).Length, $"zstd {new FileInfo(zstd).Length} bytes, lz4 {new FileInfo(lz4).Length}");
        AssertRestoresIdentically(zstd, volume);
        AssertRestoresIdentically(auto, volume);
    }

    [Fact]
    public void UnknownCodecIsAUsageErrorNamingTheChoices()
    {
        var r = P2v("capture", _tmp.File("x.img"), "-o", _tmp.File("x.p2v"), "--codec", "brotli");
        Assert.Equal(2, r.ExitCode);
        var line = P2vProcess.OneLine(r);
        Assert.Contains("--codec 'brotli'", line);
        Assert.Contains("lz4, zstd, auto", line);
        Assert.False(File.Exists(_tmp.File("x.p2v.partial")));
    }

    [Fact]
    public void CorruptZstdChunkFailsVerifyWithOneLineNamingIt()
    {
        var volume = Volume();
        var image = _tmp.File("z.p2v");
        Assert.Equal(0, P2v("capture", volume, "-o", image, "--codec", "zstd").ExitCode);
        var bytes = File.ReadAllBytes(image);
        // The first zstd frame magic after the header: damage the frame's block data a little further on.
        int at = bytes.AsSpan().IndexOf(new byte[] { 0x28, 0xB5, 0x2F, 0xFD });
        Assert.True(at > 0);
        bytes[at + 40] ^= 0x5A;
        File.WriteAllBytes(image, bytes);
        var verify = P2v("image", "verify", image);
        Assert.NotEqual(0, verify.ExitCode);
        var line = P2vProcess.OneLine(verify);
        Assert.Contains("chunk at disk offset", line);
        Assert.Matches("zstd|hash mismatch", line);
    }

    [Fact]
    public void TheStoreTakesAndReturnsZstdChunksOverHttp()
    {
        var volume = Volume();
        var store = _tmp.File("store");
        int port = LoopbackPort.Free();
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { P2vProcess.Dll, "image", "serve", "--store", store, "--listen", $"127.0.0.1:{port}" }) psi.ArgumentList.Add(a);
        psi.Environment["P2V_TOKEN"] = Token;
        _server = Process.Start(psi)!;
        _server.BeginOutputReadLine();
        _server.BeginErrorReadLine();
        var url = $"http://127.0.0.1:{port}";
        WaitForListener(port);

        var zstd = P2v("capture", volume, "--store", url, "--name", "z", "--codec", "zstd", "--json");
        Assert.True(zstd.ExitCode == 0, zstd.StdErr);
        Assert.True(JsonDocument.Parse(zstd.StdOut).RootElement.GetProperty("chunksSent").GetInt32() > 0);
        // The chunk objects in the folder store carry codec 3 in their prefix (docs/store-protocol.md, "Objects").
        var codecs = Directory.EnumerateFiles(Path.Combine(store, "chunks"), "*", SearchOption.AllDirectories)
            .Select(f => { using var s = File.OpenRead(f); return s.ReadByte(); }).ToHashSet();
        Assert.Contains(3, codecs);
        Assert.DoesNotContain(1, codecs);

        // The same data again with auto: every chunk is already held (zstd), and the image still restores.
        var again = P2v("capture", volume, "--store", url, "--name", "a", "--codec", "auto", "--json");
        Assert.True(again.ExitCode == 0, again.StdErr);
        Assert.Equal(0, JsonDocument.Parse(again.StdOut).RootElement.GetProperty("chunksSent").GetInt32());

        // And with lz4 (issue 13): nothing sent, and the manifest records the chunks as held, zstd, not as LZ4.
        var lz4 = P2v("capture", volume, "--store", url, "--name", "l", "--codec", "lz4", "--json");
        Assert.True(lz4.ExitCode == 0, lz4.StdErr);
        Assert.Equal(0, JsonDocument.Parse(lz4.StdOut).RootElement.GetProperty("chunksSent").GetInt32());

        AssertRestoresIdentically($"{url}/images/z", volume);
        AssertRestoresIdentically($"{url}/images/a", volume);
        AssertRestoresIdentically($"{store}/images/z", volume);
        foreach (var image in new[] { $"{url}/images/l", $"{store}/images/l", $"{url}/images/a" })
        {
            AssertRestoresIdentically(image, volume);
            // `image verify` of a store's image also checks each manifest record (codec, stored length) against the chunk object.
            var verify = P2v("image", "verify", image);
            Assert.True(verify.ExitCode == 0, verify.StdErr);
        }
    }

    private static void WaitForListener(int port)
    {
        for (int i = 0; i < 150; i++)
        {
            try
            {
                using var c = new TcpClient();
                c.Connect(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) { Thread.Sleep(200); }
        }
        throw new TimeoutException("p2v image serve did not listen");
    }
}
