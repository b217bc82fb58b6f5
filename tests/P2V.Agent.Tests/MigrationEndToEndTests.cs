using Xunit.Abstractions;

namespace P2V.Agent.Tests;

/// <summary>
/// The whole migration, in QEMU on a network of its own, as tools/e2e runs it with `p2v` as a user would (see its
/// header): the sample server PXE-boots into its capture through `p2v server`; `p2v plan` and `p2v createvm` make
/// its VM (same MAC), which boots its floppy into the deploy and fix-ups; a reset job boots it from its disk. tools/e2e
/// then checks the VM's disk with independent tools (sfdisk, ntfs-3g, mtools, fsck.fat, ntfsfix, hivexget, sha256
/// against the fix-up report and the patch library) and fails on any difference.
/// </summary>
[Trait("Category", "VM")]
public sealed class MigrationEndToEndTests(ITestOutputHelper output)
{
    [SkippableFact]
    public void A_server_pxe_boots_into_its_capture_and_its_vm_boots_its_floppy_into_the_deploy()
    {
        string? why = BootImages.Missing() ?? SampleServer.Missing();
        Skip.If(why is not null, why);
        string images = BootImages.Ensure();
        string sample = SampleServer.Ensure();
        using var dir = new TempDirectory();
        string outDir = dir.File("out");
        var run = ExternalTool.RunWith("env", [$"P2V={P2vCommand.Executable}", Path.Combine(BootImages.RepoRoot(), "tools", "e2e"),
            "--source-disk", Path.Combine(sample, "source.img"), "--patches", Path.Combine(sample, "patches"), "--out", outDir, "--boot-images", images],
            stdin: null, check: false, timeoutMs: 40 * 60_000);
        output.WriteLine(run.StdOut);
        output.WriteLine(run.StdErr);
        if (run.ExitCode != 0)
            foreach (var log in new[] { "source-console.log", "vm-console.log", "controller.log" }.Select(f => Path.Combine(outDir, f)).Where(File.Exists))
                output.WriteLine($"--- {Path.GetFileName(log)} (end)\n{string.Join('\n', File.ReadLines(log).TakeLast(40))}");
        Assert.True(run.ExitCode == 0, $"tools/e2e exited {run.ExitCode}: {run.StdErr.Trim().Split('\n')[^1]}");

        // What tools/e2e checked, it said: each phase ran, and the comparisons found what they should.
        for (int phase = 1; phase <= 7; phase++) Assert.Contains($"\n== {phase}. ", run.StdOut);
        Assert.Matches(@"\n   [1-9]\d* files byte-identical to the source's", run.StdOut);
        Assert.Matches(@"hal\.dll: .*\(sha256 checked, a patch library file\)", run.StdOut);
        Assert.Matches(@"ntoskrnl\.exe: .*\(sha256 checked, a patch library file\)", run.StdOut);
        Assert.Contains("every NTFS and FAT volume of the VM is clean", run.StdOut);
        Assert.Matches(@"\n   [1-9]\d* registry values the fix-up set read back the same with hivexget", run.StdOut);
        Assert.Contains("sfdisk: the same partition table as the source's", run.StdOut);
        Assert.True(File.Exists(Path.Combine(outDir, "migration", "plan.json")), "the migration folder is left in OUT");
    }
}
