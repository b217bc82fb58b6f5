using P2V.Windows.Tests.Pe;

namespace P2V.Windows.Tests.Drivers;

/// <summary>
/// A folder of driver packages laid out as virtio-win's is (driver\os\arch\ with the INF, the .sys and the .cat):
/// viostor for Server 2003 x86 (NTx86.5.2), XP x86 (NTx86.5.1, loses to the 2003 one) and Windows 7 x64
/// (NTamd64.6.1, the wrong OS and architecture), NetKVM for XP/2003 x86, and VMware's pvscsi (devices QEMU does not
/// present). The INF text follows virtio-win's 2016 INFs; the .sys files are PE stand-ins built by mingw-w64.
/// </summary>
public static class DriverPackages
{
    public const string StorageClass = "{4D36E97B-E325-11CE-BFC1-08002BE10318}";

    public static string Viostor(string decoration, string driverVer = "08/12/2016,52.74.104.12600") => $$"""
        ;-------------------------------------------------------------------------------
        ; VIOSTOR.INF -- Red Hat VirtIO SCSI controller (test copy)
        [Version]
        Signature="$Windows NT$"
        Class=SCSIAdapter
        ClassGUID={{StorageClass}}
        Provider=%RHEL%
        DriverVer={{driverVer}}
        CatalogFile=viostor.cat

        [DestinationDirs]
        DefaultDestDir = 12

        [SourceDisksNames]
        1 = %DiskId1%,,,""

        [SourceDisksFiles]
        viostor.sys = 1,,

        [Manufacturer]
        %RHEL% = RHEL,{{decoration}}

        [RHEL.{{decoration}}]
        %RHELScsi.DeviceDesc% = rhelscsi_inst, PCI\VEN_1AF4&DEV_1001&SUBSYS_00021AF4&REV_00 ; transitional
        %RHELScsi.DeviceDesc% = rhelscsi_inst, \
                                PCI\VEN_1AF4&DEV_1042&SUBSYS_11001AF4&REV_01

        [rhelscsi_inst]
        CopyFiles=@viostor.sys

        [rhelscsi_inst.Services]
        AddService = viostor, 0x00000002 , rhelscsi_Service_Inst, rhelscsi_EventLog_Inst

        [rhelscsi_Service_Inst]
        ServiceType    = %SERVICE_KERNEL_DRIVER%
        StartType      = %SERVICE_BOOT_START%
        ErrorControl   = %SERVICE_ERROR_NORMAL%
        ServiceBinary  = %12%\viostor.sys
        LoadOrderGroup = SCSI miniport
        AddReg         = pnpsafe_pci_addreg

        [rhelscsi_EventLog_Inst]
        AddReg = rhelscsi_EventLog_AddReg

        [rhelscsi_EventLog_AddReg]
        HKR,,EventMessageFile,%REG_EXPAND_SZ%,"%%SystemRoot%%\System32\IoLogMsg.dll"

        [pnpsafe_pci_addreg]
        HKR, "Parameters\PnpInterface", "5", %REG_DWORD%, 0x00000001

        [Strings]
        RHEL = "Red Hat, Inc."
        DiskId1 = "Red Hat VirtIO SCSI controller Installation Disk #1"
        RHELScsi.DeviceDesc = "Red Hat VirtIO SCSI controller"
        SERVICE_KERNEL_DRIVER = 1
        SERVICE_BOOT_START = 0
        SERVICE_ERROR_NORMAL = 1
        REG_EXPAND_SZ = 0x00020000
        REG_DWORD = 0x00010001
        """.Replace("\n", "\r\n");

    public const string NetKvm = """
        [Version]
        Signature   = "$Windows NT$"
        Class       = Net
        ClassGUID   = {4d36e972-e325-11ce-bfc1-08002be10318}
        Provider    = %RedHat%
        DriverVer   = 08/12/2016,52.74.104.12600
        CatalogFile = netkvm.cat

        [Manufacturer]
        %RedHat% = RedHat, NTx86.5.1

        [RedHat.NTx86.5.1]
        %kvmnet5.DeviceDesc% = kvmnet5.ndi, PCI\VEN_1AF4&DEV_1000&SUBSYS_00011AF4&REV_00
        %kvmnet5.DeviceDesc% = kvmnet5.ndi, PCI\VEN_1AF4&DEV_1041&SUBSYS_11001AF4&REV_01

        [kvmnet5.ndi.NTx86]
        Characteristics = 0x84 ; NCF_PHYSICAL | NCF_HAS_UI
        BusType         = 5
        CopyFiles       = kvmnet5.CopyFiles

        [DestinationDirs]
        kvmnet5.CopyFiles = 12

        [kvmnet5.CopyFiles]
        netkvm.sys,,,2

        [kvmnet5.ndi.NTx86.Services]
        AddService = netkvm, 2, kvmnet5.Service, kvmnet5.EventLog

        [kvmnet5.Service]
        DisplayName     = %kvmnet5.Service.DispName%
        ServiceType     = 1 ;%SERVICE_KERNEL_DRIVER%
        StartType       = 3 ;%SERVICE_DEMAND_START%
        ErrorControl    = 1 ;%SERVICE_ERROR_NORMAL%
        ServiceBinary   = %12%\netkvm.sys
        LoadOrderGroup  = NDIS

        [SourceDisksNames]
        1 = %DiskId1%,,,""

        [SourceDisksFiles]
        netkvm.sys = 1,,

        [Strings]
        RedHat = "Red Hat, Inc."
        kvmnet5.DeviceDesc = "Red Hat VirtIO Ethernet Adapter"
        kvmnet5.Service.DispName = "Red Hat VirtIO Ethernet Adapter Service"
        DiskId1 = "Red Hat VirtIO Ethernet Adapter Driver Disk #1"
        """;

    public const string Pvscsi = """
        [Version]
        Signature="$Windows NT$"
        Class=SCSIAdapter
        ClassGUID={4D36E97B-E325-11CE-BFC1-08002BE10318}
        Provider=%VMWARE%
        DriverVer=03/01/2012,1.1.1.0

        [Manufacturer]
        %VMWARE% = VMWARE,NTx86

        [VMWARE.NTx86]
        %DEVICE% = pvscsi_inst, PCI\VEN_15AD&DEV_07C0&SUBSYS_07C015AD

        [DestinationDirs]
        DefaultDestDir = 12

        [pvscsi_inst]
        CopyFiles = @pvscsi.sys

        [pvscsi_inst.Services]
        AddService = pvscsi, 2, pvscsi_Service

        [pvscsi_Service]
        ServiceType = 1
        StartType = 0
        ErrorControl = 1
        ServiceBinary = %12%\pvscsi.sys
        LoadOrderGroup = SCSI miniport

        [Strings]
        VMWARE = "VMware, Inc."
        DEVICE = "VMware PVSCSI Controller"
        """;

    /// <summary>Writes the folder; returns it. The .sys files are PE stand-ins with a version resource.</summary>
    public static string Build(string dir)
    {
        var root = Directory.CreateDirectory(Path.Combine(dir, "virtio-win")).FullName;
        void Package(string folder, string inf, string infText, string sys, bool pe32Plus = false, string? cat = null)
        {
            var path = Directory.CreateDirectory(Path.Combine(root, folder)).FullName;
            File.WriteAllText(Path.Combine(path, inf), infText.Replace("\r\n", "\n").Replace("\n", "\r\n"), System.Text.Encoding.Latin1);
            PeFixtures.Build(path, sys, sys, "52.74.104.12600", pe32Plus);
            if (cat is not null) File.WriteAllBytes(Path.Combine(path, cat), System.Text.Encoding.ASCII.GetBytes("catalog stand-in for " + folder));
        }
        Package("viostor/2k3/x86", "viostor.inf", Viostor("NTx86.5.2"), "viostor.sys", cat: "viostor.cat");
        Package("viostor/xp/x86", "viostor.inf", Viostor("NTx86.5.1", "06/01/2016,52.74.104.11800"), "viostor.sys", cat: "viostor.cat");
        Package("viostor/w7/amd64", "viostor.inf", Viostor("NTamd64.6.1"), "viostor.sys", pe32Plus: true);
        Package("NetKVM/2k3/x86", "netkvm.inf", NetKvm, "netkvm.sys", cat: "netkvm.cat");
        Package("vmware/pvscsi", "pvscsi.inf", Pvscsi, "pvscsi.sys");
        return root;
    }
}
