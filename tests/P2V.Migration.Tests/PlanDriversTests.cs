using P2V.Migration.Planning;
using P2V.Windows;
using P2V.Windows.Tests.Drivers;

namespace P2V.Migration.Tests;

/// <summary>
/// `p2v plan --drivers DIR --firstboot FILE…`: checked when planning (the folder's INFs parse and a package fits the
/// small server's Windows Server 2003 on the target, else a warning; the scripts exist and can be run), recorded in
/// plan.json, and run by the generated DeployVM scripts (`p2v fixup … --drivers … --firstboot …`, checked by sh -n).
/// </summary>
public sealed class PlanDriversTests(WindowsDisks disks) : IClassFixture<WindowsDisks>
{
    private static string Package(TempDirectory dir, string inf)
    {
        var folder = Directory.CreateDirectory(dir.File("drivers/viostor/2k3/x86")).FullName;
        File.WriteAllText(Path.Combine(folder, "viostor.inf"), inf.Replace("\r\n", "\n").Replace("\n", "\r\n"), System.Text.Encoding.Latin1);
        File.WriteAllBytes(Path.Combine(folder, "viostor.sys"), [0x4d, 0x5a]); // the selection only needs the file there
        File.WriteAllBytes(Path.Combine(folder, "viostor.cat"), [0x30]);
        return dir.File("drivers");
    }

    private (MigrationPlan Plan, IReadOnlyList<Validation.Finding> Findings) Plan(TargetKind target, string? drivers, string[] firstBoot, string? controller = null)
    {
        var inv = GatherTests.Gather("small-server", disks.SystemDisk);
        return MigrationPlanner.Plan(inv, new PlanOptions
        {
            Name = "SMALL", Target = target, VmConfigPath = "/srv/vm", VirtualDiskPath = "/srv/vm", DestHost = "vmhost", Drivers = drivers, FirstBoot = firstBoot,
            Controller = controller,
        });
    }

    [Fact]
    public void Drivers_and_first_boot_scripts_are_checked_recorded_and_run_by_the_deploy_scripts()
    {
        using var dir = new TempDirectory();
        var drivers = Package(dir, DriverPackages.Viostor("NTx86.5.2"));
        var script = dir.File("set ip.cmd");
        File.WriteAllText(script, "@echo off\r\n");
        var (plan, findings) = Plan(TargetKind.Qemu, drivers, [script]);
        Assert.Equal(Path.GetFullPath(drivers), plan.Drivers);
        Assert.Equal([Path.GetFullPath(script)], plan.FirstBoot);
        var info = Assert.Single(findings, f => f.RuleId == DriversAndFirstBoot.DriversRule);
        Assert.Equal(Validation.Severity.Info, info.Severity);
        Assert.Contains("viostor.inf", info.Message);
        var back = MigrationPlan.Load(WriteTemp(dir, plan.ToJson()));
        Assert.Equal(plan.Drivers, back.Drivers);
        Assert.Equal(plan.FirstBoot, back.FirstBoot);

        var folder = dir.File("migration");
        MigrationFolder.Write(plan, GatherTests.Gather("small-server", disks.SystemDisk), folder);
        var sh = File.ReadAllText(Path.Combine(folder, "SMALL_DeployVM.sh"));
        Assert.Contains($"p2v restore \"$images/SMALL_sda.p2vi\" \"{plan.Disks[0].File}\"\n", sh);
        Assert.Contains($"p2v fixup \"{plan.Disks[0].File}\" --target qemu --vcpus {plan.Vcpus} ${{P2V_PATCHES:+--patches \"$P2V_PATCHES\"}} --drivers \"{Path.GetFullPath(drivers)}\" --firstboot \"{Path.GetFullPath(script)}\" -o \"$here/SMALL_fixup.json\"\n", sh);
        var check = ExternalTool.Try("sh", "-n", Path.Combine(folder, "SMALL_DeployVM.sh"));
        Assert.True(check.ExitCode == 0, check.StdErr);
        var ps1 = File.ReadAllText(Path.Combine(folder, "SMALL_DeployVM.ps1"));
        Assert.Contains($"--drivers '{Path.GetFullPath(drivers)}' --firstboot '{Path.GetFullPath(script)}'", ps1);

        // With a controller the deploy agent installs them: the script says so, and runs no host-side fix-up.
        var (withController, _) = Plan(TargetKind.Qemu, drivers, [script], "http://10.0.0.1:8080");
        var text = MigrationScripts.Write(withController).Single(f => f.FileName == "SMALL_DeployVM.sh").Text;
        Assert.Contains($"installs the drivers of {Path.GetFullPath(drivers)} and the first-boot scripts set ip.cmd", text);
        Assert.DoesNotContain("p2v fixup", text);
    }

    [Fact]
    public void A_driver_folder_with_nothing_for_the_target_is_a_warning()
    {
        using var dir = new TempDirectory();
        var drivers = Package(dir, DriverPackages.Viostor("NTx86.5.2"));
        // Virtual Server presents no paravirtual device; Windows 7's package does not fit Server 2003.
        var (_, vs) = Plan(TargetKind.VirtualServer, drivers, []);
        var warning = Assert.Single(vs, f => f.RuleId == DriversAndFirstBoot.DriversRule);
        Assert.Equal(Validation.Severity.Warning, warning.Severity);
        Assert.Contains("presents no paravirtual storage device", warning.Message);
        using var other = new TempDirectory();
        var (_, w7) = Plan(TargetKind.Qemu, Package(other, DriverPackages.Viostor("NTamd64.6.1")), []);
        Assert.Contains("no Models section", Assert.Single(w7, f => f.RuleId == DriversAndFirstBoot.DriversRule && f.Severity == Validation.Severity.Warning).Message);
    }

    [Fact]
    public void Bad_drivers_or_scripts_are_refused_naming_them()
    {
        using var dir = new TempDirectory();
        var broken = Package(dir, DriverPackages.Viostor("NTx86.5.2") + "\n[Broken\n");
        Assert.Contains("viostor.inf, line", Assert.Throws<ArgumentException>(() => Plan(TargetKind.Qemu, broken, [])).Message);
        Assert.Contains("no such folder", Assert.Throws<ArgumentException>(() => Plan(TargetKind.Qemu, dir.File("nowhere"), [])).Message);
        Assert.Contains("no such file", Assert.Throws<ArgumentException>(() => Plan(TargetKind.Qemu, null, [dir.File("missing.cmd")])).Message);
        var shell = dir.File("setup.sh");
        File.WriteAllText(shell, "echo");
        Assert.Contains(".sh file cannot be run", Assert.Throws<ArgumentException>(() => Plan(TargetKind.Qemu, null, [shell])).Message);
    }

    private static string WriteTemp(TempDirectory dir, string text)
    {
        var path = dir.File("plan-" + Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(path, text);
        return path;
    }
}
