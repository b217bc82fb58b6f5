using System.Buffers.Binary;
using System.Text;

namespace P2V.Netboot.Dhcp;

/// <summary>The firmware a PXE client runs, from option 93 (RFC 4578 §2.1, IANA "Processor Architecture Types").</summary>
public enum ClientFirmware { Bios, UefiIa32, UefiX64, Other }

/// <summary>What a DHCP request says about its sender as a network-boot client.</summary>
public sealed record PxeClient(bool IsPxe, bool IsIpxe, ClientFirmware Firmware, ushort Architecture, byte[]? MachineId)
{
    public static PxeClient From(DhcpPacket request)
    {
        var vendor = request.Option(DhcpOption.VendorClass);
        bool pxe = vendor != null && vendor.AsSpan().StartsWith("PXEClient"u8);
        // iPXE sends user class "iPXE" (option 77) and its own encapsulated options (175).
        var userClass = request.Option(DhcpOption.UserClass);
        bool ipxe = request.Option(DhcpOption.IpxeEncapsulated) != null
                    || (userClass != null && userClass.AsSpan().IndexOf("iPXE"u8) >= 0);
        ushort arch = request.Option(DhcpOption.ClientArchitecture) is { Length: >= 2 } a ? BinaryPrimitives.ReadUInt16BigEndian(a) : (ushort)0;
        var firmware = arch switch
        {
            0 => ClientFirmware.Bios,
            6 => ClientFirmware.UefiIa32,
            7 or 9 => ClientFirmware.UefiX64,
            _ => ClientFirmware.Other,
        };
        var guid = request.Option(DhcpOption.ClientMachineId);
        return new PxeClient(pxe || ipxe, ipxe, firmware, arch, guid);
    }

    public override string ToString()
    {
        var sb = new StringBuilder(IsIpxe ? "ipxe" : IsPxe ? "pxe" : "plain");
        if (IsPxe || IsIpxe) sb.Append(' ').Append(Firmware.ToString().ToLowerInvariant());
        return sb.ToString();
    }
}
