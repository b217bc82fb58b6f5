using System.Net;
using System.Net.Sockets;

namespace P2V.Tests;

/// <summary>Ports for the servers a test starts on loopback.</summary>
public static class LoopbackPort
{
    /// <summary>A loopback port free at the moment of asking (bound to port 0, read, released).</summary>
    public static int Free(bool udp = false)
    {
        using var s = new Socket(AddressFamily.InterNetwork, udp ? SocketType.Dgram : SocketType.Stream, udp ? ProtocolType.Udp : ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }
}
