using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace P2V.Tests;

/// <summary>
/// A network namespace p2vtest-XXXX joined to the test process by a veth pair that this object creates and
/// always removes: the server side (in our namespace) has .1 of a 10.213.N.0/24 made for this test; the client
/// side lives inside the namespace. Nothing else on the machine is touched. Needs root (CI runs as root).
/// </summary>
public sealed partial class TestNetwork : IDisposable
{
    private static int _counter;

    public TestNetwork(bool bridgeWithTap = false)
    {
        var id = $"{Environment.ProcessId % 0xFFFF:x4}{Interlocked.Increment(ref _counter) % 0xFF:x2}";
        Namespace = $"p2vtest-{id}";
        HostInterface = $"p2vh{id}";
        ClientInterface = $"p2vn{id}";
        Subnet = (Environment.ProcessId + _counter * 37) % 250 + 2;
        ServerAddress = IPAddress.Parse($"10.213.{Subnet}.1");
        try
        {
            ExternalTool.Run("ip", "netns", "add", Namespace);
            ExternalTool.Run("ip", "link", "add", HostInterface, "type", "veth", "peer", "name", ClientInterface);
            ExternalTool.Run("ip", "link", "set", ClientInterface, "netns", Namespace);
            ExternalTool.Run("ip", "addr", "add", $"{ServerAddress}/24", "dev", HostInterface);
            ExternalTool.Run("ip", "link", "set", HostInterface, "up");
            ExternalTool.Run("ip", "-n", Namespace, "link", "set", "lo", "up");
            if (bridgeWithTap)
            {
                // The VM's tap and our veth end share a bridge inside the namespace.
                ExternalTool.Run("ip", "-n", Namespace, "link", "add", "br0", "type", "bridge");
                ExternalTool.Run("ip", "-n", Namespace, "link", "set", ClientInterface, "master", "br0");
                ExternalTool.Run("ip", "-n", Namespace, "tuntap", "add", "tap0", "mode", "tap");
                ExternalTool.Run("ip", "-n", Namespace, "link", "set", "tap0", "master", "br0");
                ExternalTool.Run("ip", "-n", Namespace, "link", "set", "tap0", "up");
                ExternalTool.Run("ip", "-n", Namespace, "link", "set", "br0", "up");
            }
            ExternalTool.Run("ip", "-n", Namespace, "link", "set", ClientInterface, "up");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Namespace { get; }
    public string HostInterface { get; }
    public string ClientInterface { get; }
    public int Subnet { get; }
    public IPAddress ServerAddress { get; }

    public IPAddress Address(int host) => IPAddress.Parse($"10.213.{Subnet}.{host}");

    /// <summary>Runs a command inside the namespace.</summary>
    public ExternalTool.Result Exec(int timeoutMs, params string[] args) =>
        ExternalTool.RunWith("ip", ["netns", "exec", Namespace, .. args], stdin: null, check: false, timeoutMs: timeoutMs);

    /// <summary>
    /// A UDP socket created inside the namespace: a fresh thread enters it (setns) only to create the socket,
    /// which stays in that namespace whichever thread uses it afterwards.
    /// </summary>
    public Socket CreateUdpSocketInside(Action<Socket> setup)
    {
        Socket? socket = null;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var ns = File.OpenHandle($"/var/run/netns/{Namespace}");
                if (SetNs((int)ns.DangerousGetHandle(), CloneNewNet) != 0)
                    throw new IOException($"setns failed: errno {Marshal.GetLastPInvokeError()}");
                socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                setup(socket);
            }
            catch (Exception e) { error = e; socket?.Dispose(); socket = null; }
        });
        thread.Start();
        thread.Join();
        return socket ?? throw new IOException("could not create a socket in the namespace", error);
    }

    private const int CloneNewNet = 0x40000000;

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nstype);

    public void Dispose()
    {
        // Deleting the namespace destroys its veth end and so the pair; the explicit delete covers a half-made setup.
        ExternalTool.Try("ip", "netns", "del", Namespace);
        ExternalTool.Try("ip", "link", "del", HostInterface);
    }
}
