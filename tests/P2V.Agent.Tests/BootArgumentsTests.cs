namespace P2V.Agent.Tests;

public sealed class BootArgumentsTests
{
    [Fact]
    public void The_ipxe_scripts_kernel_line_gives_the_agent_its_controller_token_job_and_role()
    {
        // As boot/ipxe/capture.ipxe renders it, plus the controller's arguments (docs/agent-protocol.md, "Boot").
        var b = BootArguments.Parse("initrd=initrd.img console=tty0 console=ttyS0,115200 quiet p2v.role=capture p2v.server=10.0.0.1 " +
            "p2v.mac=52:54:00:12:34:56 p2v.controller=http://10.0.0.1:8080 p2v.token=abc-DEF_1 p2v.job=42\n");
        Assert.Equal(new Uri("http://10.0.0.1:8080"), b.Controller);
        Assert.Equal("abc-DEF_1", b.Token);
        Assert.Equal("42", b.JobId);
        Assert.Equal("capture", b.Role);
        Assert.Equal("10.0.0.1", b.Server);
        Assert.Equal("52:54:00:12:34:56", b.Mac);
        Assert.False(b.SelfTest);
    }

    [Fact]
    public void Quoted_values_keep_their_spaces_and_selftest_is_a_flag()
    {
        var b = BootArguments.Parse("p2v.selftest=1 \"p2v.role=deploy\" other=\"a b\"");
        Assert.True(b.SelfTest);
        Assert.Equal("deploy", b.Role);
        Assert.Null(b.Controller);
        Assert.Null(b.Token);
    }

    [Theory]
    [InlineData("p2v.controller=10.0.0.1:8080")]
    [InlineData("p2v.controller=ftp://10.0.0.1/")]
    [InlineData("p2v.controller=/api")]
    public void A_controller_that_is_no_http_url_is_refused_with_its_value(string cmdline)
    {
        var e = Assert.Throws<FormatException>(() => BootArguments.Parse(cmdline));
        Assert.Contains(cmdline.Split('=')[1], e.Message);
    }
}
