using System.Net;
using P2V.Netboot;
using P2V.Netboot.Boot;
using Xunit.Abstractions;

namespace P2V.Netboot.Tests;

/// <summary>HTTP boot files (curl with and without Range) and the per-MAC decision from the config file.</summary>
public sealed class HttpAndPolicyTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly TempDirectory _dir = new();
    private readonly List<string> _log = [];
    private NetbootServer _server = null!;
    private byte[] _initrd = [];

    private string Base => $"http://127.0.0.1:{_server.Http.Port}";

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir.File("root/capture"));
        _initrd = new byte[5 * 1024 * 1024 + 17];
        new Random(5).NextBytes(_initrd);
        File.WriteAllBytes(_dir.File("root/capture/initrd.img"), _initrd);
        File.WriteAllText(_dir.File("boot.conf"), "# test rules\ndefault local\n52:54:00:00:00:01 capture\n52-54-00-00-00-02 deploy  # a VM\n");
        _server = await NetbootServer.StartAsync(new NetbootServerOptions
        {
            Root = _dir.File("root"),
            Listen = IPAddress.Loopback,
            HttpPort = 0,
            TftpPort = 0,
            BootConfig = _dir.File("boot.conf"),
        }, new NetbootLog(l => { lock (_log) _log.Add(l); }));
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        lock (_log) foreach (var l in _log) output.WriteLine(l);
        _dir.Dispose();
    }

    [Fact]
    public void Curl_fetches_whole_files_and_ranges()
    {
        Assert.Equal(_initrd, ExternalTool.RunBytes("curl", "-sSf", $"{Base}/capture/initrd.img"));
        Assert.Equal(_initrd.AsSpan(1000, 4096).ToArray(), ExternalTool.RunBytes("curl", "-sSf", "-r", "1000-5095", $"{Base}/capture/initrd.img"));
        Assert.Equal(_initrd.AsSpan(_initrd.Length - 10).ToArray(), ExternalTool.RunBytes("curl", "-sSf", "-r", "-10", $"{Base}/capture/initrd.img"));
        var head = ExternalTool.Run("curl", "-sSfI", $"{Base}/capture/initrd.img");
        Assert.Contains("Accept-Ranges: bytes", head);
        Assert.Contains($"Content-Length: {_initrd.Length}", head);
        // Interrupted download resumed where it stopped (what iPXE and curl -C do).
        using var tmp = new TempDirectory();
        File.WriteAllBytes(tmp.File("part"), _initrd.AsSpan(0, 123456).ToArray());
        ExternalTool.Run("curl", "-sSf", "-C", "-", "-o", tmp.File("part"), $"{Base}/capture/initrd.img");
        Assert.Equal(_initrd, File.ReadAllBytes(tmp.File("part")));
    }

    [Fact]
    public void A_range_in_a_unit_other_than_bytes_gets_the_whole_file()
    {
        // RFC 9110 §14.2: an origin server MUST ignore a Range header field with a range unit it does not understand.
        using var tmp = new TempDirectory();
        var code = ExternalTool.Run("curl", "-sS", "-H", "Range: items=0-5", "-o", tmp.File("all"), "-w", "%{http_code}", $"{Base}/capture/initrd.img");
        Assert.Equal("200", code.Trim());
        Assert.Equal(_initrd, File.ReadAllBytes(tmp.File("all")));
        // Range units are case-insensitive (§14.1): "Bytes" is still bytes.
        code = ExternalTool.Run("curl", "-sS", "-H", "Range: Bytes=0-5", "-o", tmp.File("part"), "-w", "%{http_code}", $"{Base}/capture/initrd.img");
        Assert.Equal("206", code.Trim());
        Assert.Equal(_initrd.AsSpan(0, 6).ToArray(), File.ReadAllBytes(tmp.File("part")));
    }

    [Fact]
    public void Missing_and_escaping_paths_are_refused()
    {
        Assert.Contains("404", ExternalTool.Try("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", $"{Base}/nothing").StdOut);
        File.CreateSymbolicLink(_dir.File("root/etc"), "/etc");
        Assert.Contains("403", ExternalTool.Try("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", $"{Base}/etc/passwd").StdOut);
        // Kestrel folds the dots into /etc/passwd, which is the refused link: never 200.
        Assert.Contains(ExternalTool.Try("curl", "-s", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", $"{Base}/../../etc/passwd").StdOut, new[] { "403", "404" });
    }

    [Fact]
    public void Scripts_follow_the_config_file_and_its_changes()
    {
        var capture = ExternalTool.Run("curl", "-sSf", $"{Base}/ipxe/52-54-00-00-00-01.ipxe");
        Assert.StartsWith("#!ipxe", capture);
        Assert.Contains($"kernel {Base}/capture/vmlinuz", capture);
        Assert.Contains("p2v.mac=52:54:00:00:00:01", capture);
        Assert.Contains($"initrd {Base}/capture/initrd.img", capture);
        Assert.Contains("/deploy/vmlinuz", ExternalTool.Run("curl", "-sSf", $"{Base}/ipxe/52:54:00:00:00:02"));
        Assert.Contains("sanboot --no-describe --drive 0x80", ExternalTool.Run("curl", "-sSf", $"{Base}/ipxe/52-54-00-00-00-03.ipxe"));
        Assert.Contains("404", ExternalTool.Try("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", $"{Base}/ipxe/not-a-mac").StdOut);

        // Edited while running: the next decision reads the new file.
        File.WriteAllText(_dir.File("boot.conf"), "default deploy\n");
        File.SetLastWriteTimeUtc(_dir.File("boot.conf"), DateTime.UtcNow.AddSeconds(5));
        Assert.Contains("/deploy/vmlinuz", ExternalTool.Run("curl", "-sSf", $"{Base}/ipxe/52-54-00-00-00-03.ipxe"));
    }

    [Theory]
    [InlineData(BootAction.Capture)]
    [InlineData(BootAction.Deploy)]
    [InlineData(BootAction.LocalDisk)]
    public void Built_in_scripts_match_the_templates_in_boot_ipxe(BootAction action)
    {
        var templates = Path.GetFullPath(Path.Combine(RepoRoot(), "boot", "ipxe"));
        var mac = System.Net.NetworkInformation.PhysicalAddress.Parse("525400000001");
        var decision = new BootDecision(action, "p2v.token=t");
        Assert.Equal(IpxeScript.Render(decision, mac, "http://x:1", "x", templates), IpxeScript.Render(decision, mac, "http://x:1", "x", null));
    }

    private static string RepoRoot([System.Runtime.CompilerServices.CallerFilePath] string source = "") =>
        Path.Combine(Path.GetDirectoryName(source)!, "..", "..");

    [Fact]
    public void Bad_config_lines_are_reported_with_their_line_number()
    {
        var e = Assert.Throws<InvalidDataException>(() => BootConfigFile.Parse(["default capture", "zz:zz deploy"], "boot.conf"));
        Assert.Contains("boot.conf:2", e.Message);
        Assert.Throws<InvalidDataException>(() => BootConfigFile.Parse(["52:54:00:00:00:01 reboot"], "boot.conf"));
    }
}
