using System.Text;
using P2V.Migration.Planning;

namespace P2V.Migration.VmConfigs;

/// <summary>
/// A POSIX sh script (run as root on the host) that makes a virtual network's Linux bridge when it is missing and
/// allows it in qemu-bridge-helper's ACL (/etc/qemu/bridge.conf, "allow BRIDGE"), which `-nic bridge,br=BRIDGE` runs
/// to create each NIC's tap and attach it. Running it twice changes nothing. P2V_QEMU_BRIDGE_ACL names another ACL file;
/// P2V_BRIDGE_UPLINK names a host interface to join to the bridge (the physical subnet the source was on).
/// </summary>
public static class QemuBridgeScript
{
    public static string Write(PlannedNetwork network)
    {
        var s = new StringBuilder();
        s.Append("#!/bin/sh\n");
        s.Append($"# QEMU virtual network '{network.Name}'{(network.Subnet is { } sub ? $" (source subnet {sub})" : "")}: written by p2v plan; run as root.\n");
        s.Append("set -eu\n");
        s.Append($"br={QemuCommandLine.Sh(network.Bridge)}\n");
        s.Append("acl=${P2V_QEMU_BRIDGE_ACL:-/etc/qemu/bridge.conf}\n");
        s.Append("if ! ip link show dev \"$br\" >/dev/null 2>&1; then\n");
        s.Append("  ip link add name \"$br\" type bridge\n");
        s.Append($"  echo \"created bridge $br for network {network.Name}\"\n");
        s.Append("fi\n");
        s.Append("ip link set dev \"$br\" up\n");
        // The migrated server keeps its addresses: its subnet is reached by enslaving the host's adapter on it.
        s.Append("if [ -n \"${P2V_BRIDGE_UPLINK:-}\" ]; then\n");
        s.Append("  ip link show dev \"$P2V_BRIDGE_UPLINK\" >/dev/null || { echo \"no host interface $P2V_BRIDGE_UPLINK to join to $br\" >&2; exit 1; }\n");
        s.Append("  ip link set dev \"$P2V_BRIDGE_UPLINK\" master \"$br\"\n");
        s.Append("  ip link set dev \"$P2V_BRIDGE_UPLINK\" up\n");
        s.Append("fi\n");
        s.Append("mkdir -p \"$(dirname \"$acl\")\"\n");
        s.Append("grep -qx \"allow $br\" \"$acl\" 2>/dev/null || echo \"allow $br\" >> \"$acl\"\n");
        return s.ToString();
    }
}
