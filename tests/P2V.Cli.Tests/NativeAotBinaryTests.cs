using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace P2V.Cli.Tests;

/// <summary>
/// The published NativeAOT `p2v` (tools/setup puts it in out/p2v; $P2V_AOT names another) does the work, not only
/// builds: a migration of tools/make-sample-server's server — gather, validate, plan, capture, createvm, restore,
/// fix-up dry run — gives the same files and output as the JIT build of the same source, and the disk it restored
/// holds the source's data (qemu-img compare). The controller serves its API and OpenAPI document from it too.
/// Skipped where no AOT binary was published; on CI tools/setup publishes one, and a skip fails the run there.
/// </summary>
public sealed partial class NativeAotBinaryTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static string RepoRoot([CallerFilePath] string source = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(source)!, "..", ".."));

    /// <summary>The AOT binary, or why there is none: a NativeAOT publish is one file, with no p2v.dll beside it.</summary>
    private static string AotBinary()
    {
        var path = Environment.GetEnvironmentVariable("P2V_AOT") is { Length: > 0 } given ? given : Path.Combine(RepoRoot(), "out", "p2v", "p2v");
        Skip.IfNot(File.Exists(path), $"no published p2v at {path} (tools/setup publishes it NativeAOT)");
        Skip.If(File.Exists(Path.Combine(Path.GetDirectoryName(path)!, "p2v.dll")),
            $"{path} is not a NativeAOT publish (a p2v.dll lies beside it: the ReadyToRun or IL fallback of tools/setup)");
        // Built from another commit than this test's p2v: a comparison would only find the version strings differ.
        string aotVersion = ExternalTool.Try(path, "--version").StdOut.Trim(), jitVersion = P2vProcess.Run("--version").StdOut.Trim();
        Skip.If(aotVersion != jitVersion, $"{path} is p2v {aotVersion}, this build is {jitVersion}: publish it again (tools/setup)");
        return path;
    }

    private static ExternalTool.Result Run(string? aot, params string[] args)
    {
        var r = aot is null ? P2vProcess.Run(args) : ExternalTool.RunWith(aot, args, stdin: null, check: false);
        Assert.True(r.ExitCode == 0, $"{(aot is null ? "p2v (JIT)" : aot)} {string.Join(' ', args)} exited {r.ExitCode}:\n{r.StdOut}{r.StdErr}");
        return r;
    }

    /// <summary>One migration of the sample server into WORK by one build; what it printed, by step.</summary>
    private static Dictionary<string, string> Migrate(string? aot, string server, string work)
    {
        var vm = Path.Combine(work, "vm");
        var migration = Path.Combine(work, "migration");
        var image = Path.Combine(work, "SRV.p2v");
        var output = new Dictionary<string, string>();
        Run(aot, "gather", "--root", Path.Combine(server, "sysroot"), "--disk", Path.Combine(server, "source.img"), "-o", Path.Combine(work, "inventory.xml"));
        output["validate"] = Run(aot, "validate", Path.Combine(work, "inventory.xml"), "--target", "virtualserver", "--json").StdOut;
        Run(aot, "plan", Path.Combine(work, "inventory.xml"), "--name", "SRV", "--vm-config-path", vm, "--virtual-disk-path", vm,
            "--dest-host", "localhost", "--target", "virtualserver", "--disk-format", "vhd", "-o", migration);
        Run(aot, "capture", Path.Combine(server, "source.img"), "-o", image);
        output["image info"] = Run(aot, "image", "info", image, "--json").StdOut;
        Run(aot, "image", "verify", image);
        var floppy = Path.Combine(work, "floppy.vfd");
        using (var f = File.Create(floppy)) f.SetLength(1474560);
        output["createvm"] = Run(aot, "createvm", Path.Combine(migration, "plan.json"), "--floppy", floppy, "--json").StdOut;
        using (var plan = JsonDocument.Parse(File.ReadAllText(Path.Combine(migration, "plan.json"))))
            output["vhd"] = plan.RootElement.GetProperty("disks")[0].GetProperty("file").GetString()!;
        var vhd = output["vhd"];
        Assert.True(File.Exists(vhd), $"createvm made no {vhd}");
        Run(aot, "restore", image, vhd);
        var before = File.ReadAllBytes(vhd);
        output["fixup --dry-run"] = Run(aot, "fixup", vhd, "--target", "virtualserver", "--patches", Path.Combine(server, "patches"), "--dry-run").StdOut;
        Assert.True(before.AsSpan().SequenceEqual(File.ReadAllBytes(vhd)), "the dry run changed the disk");
        return output;
    }

    [SkippableFact]
    public void TheAotBinaryMigratesTheSampleServerLikeTheJitBuild()
    {
        var aot = AotBinary();
        Requires.Tool("hivexregedit");
        Requires.Tool("qemu-img");
        var server = _tmp.File("server");
        var make = ExternalTool.RunWith("env", [$"P2V={aot}", Path.Combine(RepoRoot(), "tools", "make-sample-server"), server], stdin: null, check: false);
        Assert.True(make.ExitCode == 0, make.StdOut + make.StdErr);

        var aotWork = Directory.CreateDirectory(_tmp.File("aot")).FullName;
        var jitWork = Directory.CreateDirectory(_tmp.File("jit")).FullName;
        var byAot = Migrate(aot, server, aotWork);
        var byJit = Migrate(null, server, jitWork);

        // The restored VM disk holds what the source disk holds, read by qemu-img, not by p2v.
        var compare = ExternalTool.Try("qemu-img", "compare", "-f", "raw", "-F", "vpc", Path.Combine(server, "source.img"), byAot["vhd"]);
        Assert.True(compare.ExitCode == 0, compare.StdOut + compare.StdErr);

        // Same source, same results: every file and every printed line, up to the work folder's name and the times of
        // the capture and the gathering.
        string Same(string text, string work) => Times().Replace(text.Replace(work, "WORK"), "${name}T");
        foreach (var file in new[] { "inventory.xml", "migration/plan.json", "vm/SRV_device.json", "vm/SRV.vmc" })
            Assert.Equal(Same(File.ReadAllText(Path.Combine(jitWork, file)), jitWork), Same(File.ReadAllText(Path.Combine(aotWork, file)), aotWork));
        foreach (var step in byJit.Keys)
            Assert.Equal(Same(byJit[step], jitWork), Same(byAot[step], aotWork));
        using var info = JsonDocument.Parse(byAot["image info"]);
        Assert.NotEqual(0, info.RootElement.GetProperty("volumes").GetArrayLength());
        Assert.Contains("hal", byAot["fixup --dry-run"], StringComparison.OrdinalIgnoreCase);
    }

    [SkippableFact]
    public async Task TheAotControllerServesItsApiAndOpenApiDocument()
    {
        var aot = AotBinary();
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0)) { probe.Start(); port = ((IPEndPoint)probe.LocalEndpoint).Port; }
        var psi = new ProcessStartInfo(aot) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "server", "--data", _tmp.File("data"), "--listen", $"127.0.0.1:{port}", "--no-netboot" }) psi.ArgumentList.Add(a);
        using var server = Process.Start(psi)!;
        var stderr = server.StandardError.ReadToEndAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            string? health = null;
            for (var until = DateTime.UtcNow.AddSeconds(60); health is null && DateTime.UtcNow < until && !server.HasExited; )
                try { health = await http.GetStringAsync("healthz"); } catch (HttpRequestException) { await Task.Delay(200); }
            Assert.True(health is not null, $"p2v server did not answer /healthz:\n{(server.HasExited ? await stderr : "")}");
            Assert.Equal("ok", JsonDocument.Parse(health!).RootElement.GetProperty("status").GetString());
            // The document ApiExplorer builds: the one part of the controller the AOT publish needed a feature switch for.
            using var openApi = JsonDocument.Parse(await http.GetStringAsync("openapi/v1.json"));
            Assert.True(openApi.RootElement.GetProperty("paths").TryGetProperty("/api/devices", out _), "no /api/devices in the OpenAPI document");
            // An authenticated request through the generated JSON: the admin token from the data folder, an empty device list.
            http.DefaultRequestHeaders.Authorization = new("Bearer", File.ReadAllText(Path.Combine(_tmp.File("data"), "admin-token")).Trim());
            Assert.Equal(JsonValueKind.Array, JsonDocument.Parse(await http.GetStringAsync("api/devices")).RootElement.ValueKind);
        }
        finally
        {
            if (!server.HasExited) server.Kill();
            await server.WaitForExitAsync();
        }
    }

    [GeneratedRegex("(?<name>\"created\": \"|gathered=\")[^\"]*")]
    private static partial Regex Times();
}
