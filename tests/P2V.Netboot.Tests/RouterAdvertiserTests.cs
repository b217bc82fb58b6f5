using P2V.Netboot;
using P2V.Netboot.Ndp;
using Xunit.Abstractions;

namespace P2V.Netboot.Tests;

/// <summary>Our router-solicitation answer, received by rdisc6 (ndisc6) inside a namespace the test makes.</summary>
public sealed class RouterAdvertiserTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Rdisc6_gets_an_advertisement_that_configures_nothing()
    {
        using var net = new TestNetwork();
        WaitForLinkLocal(net);
        var log = new List<string>();
        await using (var ra = RouterAdvertiser.Start(net.HostInterface, new NetbootLog(l => { lock (log) log.Add(l); })))
        {
            // -1: stop at the first answer; -r 3 -w 2000: three solicitations two seconds apart at most.
            var r = net.Exec(30_000, "rdisc6", "-1", "-r", "3", "-w", "2000", net.ClientInterface);
            output.WriteLine(r.StdOut + r.StdErr);
            Assert.Equal(0, r.ExitCode);
            // RFC 4861 §4.2: M and O clear (no DHCPv6), router lifetime 0 (not a default router), no prefix.
            Assert.Matches(@"Stateful address conf\.\s*:\s*No", r.StdOut);
            Assert.Matches(@"Stateful other conf\.\s*:\s*No", r.StdOut);
            Assert.Matches(@"Router lifetime\s*:\s*0 ", r.StdOut);
            Assert.DoesNotContain("Prefix", r.StdOut);
            Assert.Matches(@"from fe80::", r.StdOut);
            // The source link-layer address option carries the host interface's MAC.
            var mac = File.ReadAllText($"/sys/class/net/{net.HostInterface}/address").Trim();
            Assert.Contains(mac.ToUpperInvariant(), r.StdOut.ToUpperInvariant());
        }
        lock (log)
        {
            foreach (var l in log) output.WriteLine(l);
            Assert.Contains(log, l => l.Contains("router solicitation answered"));
        }
    }

    [Fact]
    public void Only_well_formed_solicitations_are_answered()
    {
        Assert.True(RouterMessages.IsSolicitation([133, 0, 0, 0, 0, 0, 0, 0]));
        Assert.True(RouterMessages.IsSolicitation([133, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 1])); // with a source link-layer option
        Assert.False(RouterMessages.IsSolicitation([133, 1, 0, 0, 0, 0, 0, 0]));                        // code must be 0
        Assert.False(RouterMessages.IsSolicitation([133, 0, 0, 0, 0, 0, 0]));                           // shorter than 8
        Assert.False(RouterMessages.IsSolicitation([133, 0, 0, 0, 0, 0, 0, 0, 1, 0]));                  // option of length 0
        Assert.False(RouterMessages.IsSolicitation([133, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0]));            // option past the end
        Assert.False(RouterMessages.IsSolicitation([134, 0, 0, 0, 0, 0, 0, 0]));                        // an advertisement
    }

    /// <summary>The advertisement's source must be a link-local address that has finished duplicate detection.</summary>
    /// <summary>
    /// Both ends need a link-local address past duplicate address detection: ours to answer from, the namespace's for
    /// rdisc6 to send from (a tentative one fails its send with "Cannot assign requested address").
    /// </summary>
    private static void WaitForLinkLocal(TestNetwork net)
    {
        var until = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < until)
        {
            var host = ExternalTool.Run("ip", "-6", "addr", "show", "dev", net.HostInterface);
            var client = ExternalTool.Run("ip", "-n", net.Namespace, "-6", "addr", "show", "dev", net.ClientInterface);
            if (host.Contains("fe80::") && !host.Contains("tentative") && client.Contains("fe80::") && !client.Contains("tentative")) return;
            Thread.Sleep(100);
        }
        throw new TimeoutException($"{net.HostInterface} or {net.ClientInterface} got no usable link-local address");
    }
}
