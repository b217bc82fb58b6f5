using P2V.Imaging.VirtualDisks;
using System.Text;
using P2V.Migration.VmConfigs;
using P2V.Windows;

namespace P2V.Migration.Planning;

/// <summary>
/// The seed's generated Capture.cmd, CreateVM.cmd and DeployVM.cmd, as POSIX sh (Linux hosts and the capture boot
/// environment) and PowerShell (Windows hosts). Each calls `p2v` and the target's own tools; all paths come from the plan.
/// </summary>
public static class MigrationScripts
{
    public static IReadOnlyList<(string FileName, string Text)> Write(MigrationPlan plan) =>
    [
        ($"{plan.Name}_Capture.sh", CaptureSh(plan)),
        ($"{plan.Name}_Capture.ps1", CapturePs1(plan)),
        ($"{plan.Name}_CreateVM.sh", CreateVmSh(plan)),
        ($"{plan.Name}_CreateVM.ps1", CreateVmPs1(plan)),
        ($"{plan.Name}_DeployVM.sh", DeployVmSh(plan)),
        ($"{plan.Name}_DeployVM.ps1", DeployVmPs1(plan)),
    ];

    private const string ShHeader = "#!/bin/sh\nset -eu\nhere=$(cd \"$(dirname \"$0\")\" && pwd)\n";
    private const string Ps1Header = "$ErrorActionPreference = 'Stop'\r\n$here = Split-Path -Parent $MyInvocation.MyCommand.Path\r\n";

    /// <summary>
    /// With a controller (the source document's ADS): run on the admin host; the source is taken under control with a
    /// capture job and network-boots into the capture image, whose agent captures every disk into the store as the
    /// image named after the plan (docs/controller.md). Without one: run on the source, booted into P2V's capture
    /// environment, each migrated disk into an image file in P2V_IMAGES.
    /// </summary>
    private static string CaptureSh(MigrationPlan plan)
    {
        var s = new StringBuilder(ShHeader);
        if (plan.Controller is { } controller)
        {
            s.Append($"# Step 3 for '{plan.Name}': capture through the controller. Run where p2v reaches it (P2V_TOKEN: its admin token).\n");
            s.Append($"export P2V_CONTROLLER=\"${{P2V_CONTROLLER:-{controller}}}\"\n");
            s.Append($"p2v device add {SourceMac(plan)} --name {QemuCommandLine.Sh(plan.Name)} --control\n");
            s.Append($"job=$(p2v job create {SourceMac(plan)} --kind capture --image {QemuCommandLine.Sh(plan.Name)})\n");
            s.Append($"echo \"now network-boot {plan.Name} ({SourceMac(plan)}): it captures its disks into the store as image {plan.Name}\"\n");
            s.Append("p2v job wait \"$job\"\n");
            return s.ToString();
        }
        s.Append($"# Step 3 for '{plan.Name}': capture the source disks. Run on the source in the P2V capture environment.\n");
        s.Append("images=${P2V_IMAGES:-$here/images}\nmkdir -p \"$images\"\n");
        foreach (var d in plan.Disks)
            s.Append($"p2v capture \"/dev/{d.Source}\" -o \"$images/{plan.Name}_{d.Source}.p2vi\" --source \"$here/{plan.Inventory}\"\n");
        return s.ToString();
    }

    private static string CapturePs1(MigrationPlan plan)
    {
        var s = new StringBuilder(Ps1Header);
        if (plan.Controller is { } controller)
        {
            s.Append($"# Step 3 for '{plan.Name}': capture through the controller. Run where p2v reaches it ($env:P2V_TOKEN: its admin token).\r\n");
            s.Append($"if (-not $env:P2V_CONTROLLER) {{ $env:P2V_CONTROLLER = {HyperVScript.Q(controller)} }}\r\n");
            s.Append($"& p2v device add {SourceMac(plan)} --name {HyperVScript.Q(plan.Name)} --control\r\nif ($LASTEXITCODE -ne 0) {{ exit $LASTEXITCODE }}\r\n");
            s.Append($"$job = & p2v job create {SourceMac(plan)} --kind capture --image {HyperVScript.Q(plan.Name)}\r\nif ($LASTEXITCODE -ne 0) {{ exit $LASTEXITCODE }}\r\n");
            s.Append($"Write-Host 'now network-boot {plan.Name} ({SourceMac(plan)}): it captures its disks into the store as image {plan.Name}'\r\n");
            s.Append("& p2v job wait $job\r\nexit $LASTEXITCODE\r\n");
            return s.ToString();
        }
        s.Append($"# Step 3 for '{plan.Name}': capture the source disks from their files or devices. Set P2V_DISK_<name> to a disk's path.\r\n");
        s.Append("$images = if ($env:P2V_IMAGES) { $env:P2V_IMAGES } else { Join-Path $here 'images' }\r\n");
        s.Append("New-Item -ItemType Directory -Force -Path $images | Out-Null\r\n");
        foreach (var d in plan.Disks)
        {
            s.Append($"$disk = [Environment]::GetEnvironmentVariable('P2V_DISK_{d.Source}'); if (-not $disk) {{ throw 'set P2V_DISK_{d.Source} to the path of source disk {d.Source}' }}\r\n");
            s.Append($"& p2v capture $disk -o (Join-Path $images '{plan.Name}_{d.Source}.p2vi') --source (Join-Path $here '{plan.Inventory}')\r\n");
            s.Append("if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }\r\n");
        }
        return s.ToString();
    }

    private static string CreateVmSh(MigrationPlan plan)
    {
        var s = new StringBuilder(ShHeader);
        s.Append($"# Step 5 for '{plan.Name}': create the disks, the boot floppy and the VM configuration on {plan.DestHost}.\n");
        s.Append("p2v createvm \"$here/plan.json\" \"$@\"\n");
        switch (plan.Target)
        {
            case TargetKind.Libvirt:
                // The seed's "creates virtual networks": each one libvirt lacks is defined from its file, then started.
                s.Append("uri=\"${P2V_LIBVIRT_URI:-qemu:///system}\"\n");
                foreach (var n in plan.Networks)
                {
                    var name = QemuCommandLine.Sh(n.Name);
                    s.Append($"if ! virsh -c \"$uri\" net-info {name} >/dev/null 2>&1; then\n");
                    s.Append($"  virsh -c \"$uri\" net-define {QemuCommandLine.Sh(n.Definition!)}\n  virsh -c \"$uri\" net-autostart {name}\nfi\n");
                    s.Append($"virsh -c \"$uri\" net-info {name} | grep -Eq '^Active: +yes' || virsh -c \"$uri\" net-start {name}\n");
                }
                s.Append($"virsh -c \"$uri\" define {QemuCommandLine.Sh(plan.ConfigFile)}\n");
                break;
            case TargetKind.Qemu:
                foreach (var n in plan.Networks)
                    s.Append($"sh {QemuCommandLine.Sh(n.Definition!)}   # the bridge of network {n.Name} (as root)\n");
                break;
            case TargetKind.HyperV:
                s.Append($"echo \"now run {HostPath.FileName(plan.ConfigFile)} on {plan.DestHost} (PowerShell, Hyper-V module)\"\n");
                break;
            case TargetKind.VirtualServer:
                s.Append($"echo \"now add {plan.ConfigFile} in the Virtual Server Administration Website (Add Virtual Machine)\"\n");
                break;
        }
        return s.ToString();
    }

    private static string CreateVmPs1(MigrationPlan plan)
    {
        var s = new StringBuilder(Ps1Header);
        s.Append($"# Step 5 for '{plan.Name}': create the disks, the boot floppy and the VM configuration on {plan.DestHost}.\r\n");
        s.Append("& p2v createvm (Join-Path $here 'plan.json') @args\r\nif ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }\r\n");
        switch (plan.Target)
        {
            case TargetKind.HyperV:
                s.Append($"& {HyperVScript.Q(plan.ConfigFile)}\r\n");
                break;
            case TargetKind.VirtualServer:
                // Virtual Server's COM API: register the .vmc with the server (the seed's VMClient.exe did this).
                s.Append("$vs = New-Object -ComObject VirtualServer.Application\r\n");
                // The seed's Createvirtualnetwork.vbs: a network the server lacks is registered from the .vnc createvm wrote.
                foreach (var n in plan.Networks)
                    s.Append($"if (-not $vs.FindVirtualNetwork({HyperVScript.Q(n.Name)})) {{ $vs.RegisterVirtualNetwork({HyperVScript.Q(HostPath.FileName(n.Definition!))}, {HyperVScript.Q(plan.VmConfigPath)}) | Out-Null }}\r\n");
                s.Append($"$vs.RegisterVirtualMachine({HyperVScript.Q(plan.Name)}, {HyperVScript.Q(plan.VmConfigPath)}) | Out-Null\r\n");
                break;
        }
        return s.ToString();
    }

    /// <summary>The MAC the source (and then its VM) network-boots with: the plan's first NIC, which keeps the source's.</summary>
    private static string SourceMac(MigrationPlan plan) => plan.Nics.Count > 0 ? plan.Nics[0].Mac
        : throw new ArgumentException($"plan {plan.Name} has no network adapter: with a controller the machine must network-boot");

    private static string DeployVmSh(MigrationPlan plan)
    {
        var s = new StringBuilder(ShHeader);
        if (plan.Controller is null)
        {
            // No controller to send a deploy job: the seed's DeployVM done on this host — each image onto its disk
            // file, then the offline fix-ups, with the plan's drivers and first-boot scripts.
            s.Append($"# Step 6 for '{plan.Name}': write the captured images into the VM's disk files and fix Windows up for {TargetHypervisor.For(plan.Target).DisplayName} (P2V_PATCHES: the patch library folder).\n");
            s.Append("images=${P2V_IMAGES:-$here/images}\n");
            foreach (var d in plan.Disks)
                s.Append($"p2v restore \"$images/{plan.Name}_{d.Source}.p2vi\" {QemuCommandLine.Sh(WritableFile(d))}\n");
            if (plan.Disks.Count > 0)
                s.Append($"p2v fixup {QemuCommandLine.Sh(WritableFile(plan.Disks[0]))} --target {TargetHypervisor.For(plan.Target).Name} --vcpus {plan.Vcpus} ${{P2V_PATCHES:+--patches \"$P2V_PATCHES\"}}")
                    .Append(plan.Drivers is { } drivers ? $" --drivers {QemuCommandLine.Sh(drivers)}" : "")
                    .Append(plan.FirstBoot.Count > 0 ? " --firstboot " + string.Join(' ', plan.FirstBoot.Select(QemuCommandLine.Sh)) : "")
                    .Append($" -o \"$here/{plan.Name}_fixup.json\"\n");
        }
        else if (plan.Drivers is not null || plan.FirstBoot.Count > 0)
            s.Append($"# The deploy job's fix-up installs {ExtrasText(plan)}: p2v createvm --controller gave it their tars.\n");
        s.Append(plan.Controller is null ? "# Then start the VM.\n" : $"# Step 6 for '{plan.Name}': start the VM; it boots the floppy, iPXE asks the controller for its deploy job.\n");
        s.Append(plan.Target switch
        {
            TargetKind.Libvirt => "virsh -c \"${P2V_LIBVIRT_URI:-qemu:///system}\" start " + QemuCommandLine.Sh(plan.Name) + "\n",
            TargetKind.Qemu => $"sh {QemuCommandLine.Sh(plan.ConfigFile)} -daemonize -display none \"$@\"\n",
            TargetKind.Vmware => $"vmrun -T ws start {QemuCommandLine.Sh(plan.ConfigFile)} nogui\n",
            TargetKind.HyperV => $"echo \"run {plan.Name}_DeployVM.ps1 on {plan.DestHost}\"\n",
            _ => $"echo \"run {plan.Name}_DeployVM.ps1 on {plan.DestHost}, or start {plan.Name} in the Virtual Server Administration Website\"\n",
        });
        if (plan.Controller is { } controller)
        {
            // The deploy job createvm queued; then the source document's ResetVM: the VM boots from its disk.
            s.Append($"export P2V_CONTROLLER=\"${{P2V_CONTROLLER:-{controller}}}\"\n");
            s.Append($"p2v job wait {SourceMac(plan)}\n");
            s.Append($"p2v job wait \"$(p2v job create {SourceMac(plan)} --kind reset)\"\n");
        }
        return s.ToString();
    }

    private static string DeployVmPs1(MigrationPlan plan)
    {
        var s = new StringBuilder(Ps1Header);
        if (plan.Controller is null)
        {
            s.Append($"# Step 6 for '{plan.Name}': write the captured images into the VM's disk files and fix Windows up for {TargetHypervisor.For(plan.Target).DisplayName} ($env:P2V_PATCHES: the patch library folder).\r\n");
            s.Append("$images = if ($env:P2V_IMAGES) { $env:P2V_IMAGES } else { Join-Path $here 'images' }\r\n");
            foreach (var d in plan.Disks)
                s.Append($"& p2v restore (Join-Path $images '{plan.Name}_{d.Source}.p2vi') {HyperVScript.Q(WritableFile(d))}\r\nif ($LASTEXITCODE -ne 0) {{ exit $LASTEXITCODE }}\r\n");
            if (plan.Disks.Count > 0)
            {
                s.Append("$patches = if ($env:P2V_PATCHES) { @('--patches', $env:P2V_PATCHES) } else { @() }\r\n");
                s.Append($"& p2v fixup {HyperVScript.Q(WritableFile(plan.Disks[0]))} --target {TargetHypervisor.For(plan.Target).Name} --vcpus {plan.Vcpus} @patches")
                    .Append(plan.Drivers is { } drivers ? $" --drivers {HyperVScript.Q(drivers)}" : "")
                    .Append(plan.FirstBoot.Count > 0 ? " --firstboot " + string.Join(' ', plan.FirstBoot.Select(HyperVScript.Q)) : "")
                    .Append($" -o (Join-Path $here '{plan.Name}_fixup.json')\r\nif ($LASTEXITCODE -ne 0) {{ exit $LASTEXITCODE }}\r\n");
            }
        }
        else if (plan.Drivers is not null || plan.FirstBoot.Count > 0)
            s.Append($"# The deploy job's fix-up installs {ExtrasText(plan)}: p2v createvm --controller gave it their tars.\r\n");
        s.Append(plan.Controller is null ? "# Then start the VM.\r\n" : $"# Step 6 for '{plan.Name}': start the VM; it boots the floppy, iPXE asks the controller for its deploy job.\r\n");
        s.Append(plan.Target switch
        {
            TargetKind.HyperV => $"Start-VM -Name {HyperVScript.Q(plan.Name)} -ComputerName {HyperVScript.Q(plan.DestHost)}\r\n",
            TargetKind.VirtualServer => $"$vs = New-Object -ComObject VirtualServer.Application\r\n$vs.FindVirtualMachine({HyperVScript.Q(plan.Name)}).Startup() | Out-Null\r\n",
            TargetKind.Vmware => $"& vmrun -T ws start {HyperVScript.Q(plan.ConfigFile)} nogui\r\n",
            TargetKind.Libvirt => $"& virsh -c \"qemu+ssh://{plan.DestHost}/system\" start {HyperVScript.Q(plan.Name)}\r\n",
            _ => $"& ssh {HyperVScript.Q(plan.DestHost)} sh {HyperVScript.Q(plan.ConfigFile)} -daemonize -display none\r\n",
        });
        if (plan.Controller is { } controller)
        {
            s.Append($"if (-not $env:P2V_CONTROLLER) {{ $env:P2V_CONTROLLER = {HyperVScript.Q(controller)} }}\r\n");
            s.Append($"& p2v job wait {SourceMac(plan)}\r\nif ($LASTEXITCODE -ne 0) {{ exit $LASTEXITCODE }}\r\n");
            s.Append($"$reset = & p2v job create {SourceMac(plan)} --kind reset\r\nif ($LASTEXITCODE -ne 0) {{ exit $LASTEXITCODE }}\r\n");
            s.Append("& p2v job wait $reset\r\nexit $LASTEXITCODE\r\n");
        }
        return s.ToString();
    }

    /// <summary>The file p2v writes for a VM disk: a VMDK's raw "-flat.vmdk" extent (VmCreator), else the disk file itself.</summary>
    private static string WritableFile(PlannedDisk d) => d.Format == VirtualDiskFormat.Vmdk
        ? d.File[..^".vmdk".Length] + "-flat.vmdk" : d.File;

    private static string ExtrasText(MigrationPlan plan) => string.Join(" and ", new[]
    {
        plan.Drivers is { } d ? $"the drivers of {d}" : null,
        plan.FirstBoot.Count > 0 ? $"the first-boot scripts {string.Join(", ", plan.FirstBoot.Select(Path.GetFileName))}" : null,
    }.Where(t => t is not null));
}
