using System.Net;
using System.Net.Sockets;
using P2V.Netboot;
using P2V.Netboot.Tftp;
using Xunit.Abstractions;

namespace P2V.Netboot.Tests;

/// <summary>Our TFTP server on a loopback port, fetched from by curl and atftp (independent clients).</summary>
public sealed class TftpServerTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly TempDirectory _root = new();
    private readonly List<string> _log = [];
    private TftpServer _server = null!;
    private readonly byte[] _file = new byte[3 * 1024 * 1024 + 123];

    public Task InitializeAsync()
    {
        new Random(4).NextBytes(_file);
        File.WriteAllBytes(_root.File("kernel.bin"), _file);
        Directory.CreateDirectory(_root.File("sub"));
        File.WriteAllBytes(_root.File("sub/small.bin"), _file.AsSpan(0, 1000).ToArray());
        File.WriteAllBytes(_root.File("sub/exact.bin"), _file.AsSpan(0, 1024).ToArray()); // a multiple of 512: ends with an empty block
        File.WriteAllText(_root.File("text.txt"), "line one\nline two\r\nend");
        _server = TftpServer.Start(new TftpServerOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Root = new BootFileRoot(_root.Path),
            Timeout = TimeSpan.FromMilliseconds(500),
        }, new NetbootLog(l => { lock (_log) _log.Add(l); }));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        lock (_log) foreach (var l in _log) output.WriteLine(l);
        _root.Dispose();
    }

    private string Url(string name) => $"tftp://127.0.0.1:{_server.LocalEndPoint.Port}/{name}";

    private byte[] Curl(string name, params string[] extra)
    {
        using var tmp = new TempDirectory();
        ExternalTool.Run("curl", [.. extra, "-sS", "--max-time", "60", "-o", tmp.File("out"), Url(name)]);
        return File.ReadAllBytes(tmp.File("out"));
    }

    private byte[] Atftp(string name, params string[] options)
    {
        using var tmp = new TempDirectory();
        var args = new List<string> { "-g", "-r", name, "-l", tmp.File("out") };
        foreach (var o in options) { args.Add("--option"); args.Add(o); }
        args.Add("127.0.0.1");
        args.Add(_server.LocalEndPoint.Port.ToString());
        ExternalTool.RunWith("atftp", args, stdin: null, timeoutMs: 60_000);
        return File.ReadAllBytes(tmp.File("out"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("8")]
    [InlineData("100")]
    [InlineData("1468")]
    [InlineData("65464")]
    public void Curl_fetches_byte_identical(string? blksize)
    {
        var name = blksize is "8" or "100" ? "sub/small.bin" : "kernel.bin";
        var expected = File.ReadAllBytes(_root.File(name));
        var got = blksize == null ? Curl(name) : Curl(name, "--tftp-blksize", blksize);
        Assert.Equal(expected, got);
    }

    [Fact]
    public void Curl_fetches_a_file_ending_on_a_block_boundary()
    {
        Assert.Equal(File.ReadAllBytes(_root.File("sub/exact.bin")), Curl("sub/exact.bin"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("blksize 1468")]
    [InlineData("blksize 1468,windowsize 16")]
    [InlineData("windowsize 4,tsize 0")]
    [InlineData("blksize 8,tsize 0,timeout 2")]
    [InlineData("blksize 65464,windowsize 8")]
    public void Atftp_fetches_byte_identical(string options)
    {
        var name = options.Contains("blksize 8") ? "sub/small.bin" : "kernel.bin";
        Assert.Equal(File.ReadAllBytes(_root.File(name)), Atftp(name, options.Split(',', StringSplitOptions.RemoveEmptyEntries)));
    }

    [Fact]
    public void Block_numbers_roll_over_past_65535()
    {
        // 8-byte blocks reach block 65536 after 512 KiB: the same wrap a 32 MiB file has at 512 bytes.
        var big = _file.AsSpan(0, 600 * 1024).ToArray();
        File.WriteAllBytes(_root.File("rollover.bin"), big);
        Assert.Equal(big, Atftp("rollover.bin", "blksize 8", "windowsize 32"));
    }

    [Fact]
    public void Netascii_turns_line_ends_into_cr_lf()
    {
        using var tmp = new TempDirectory();
        // atftp's netascii receive converts back; read the wire bytes with our own raw client instead.
        var got = RawFetch("text.txt", "netascii");
        Assert.Equal("line one\r\nline two\r\0\r\nend"u8.ToArray(), got);
    }

    [Theory]
    [InlineData("../etc/passwd")]
    [InlineData("sub/../../etc/passwd")]
    [InlineData("/etc/passwd")]
    [InlineData("..\\..\\etc\\passwd")]
    [InlineData("escape/passwd")]
    public void Traversal_gets_an_access_violation(string name)
    {
        if (name.StartsWith("escape")) File.CreateSymbolicLink(_root.File("escape"), "/etc");
        var (code, _) = RawError(TftpOpcode.ReadRequest, name);
        Assert.Equal(TftpErrorCode.AccessViolation, code);
        var curl = ExternalTool.Try("curl", "-sS", "--max-time", "20", "-o", "/dev/null", Url(name.Replace('\\', '/')));
        Assert.NotEqual(0, curl.ExitCode);
    }

    [Fact]
    public void Missing_file_gets_file_not_found()
    {
        Assert.Equal(TftpErrorCode.FileNotFound, RawError(TftpOpcode.ReadRequest, "nothing-here").Code);
        var atftp = ExternalTool.Try("atftp", "-g", "-r", "nothing-here", "-l", "/dev/null", "127.0.0.1", _server.LocalEndPoint.Port.ToString());
        Assert.NotEqual(0, atftp.ExitCode);
    }

    [Fact]
    public void Write_requests_get_an_error_packet()
    {
        Assert.Equal(TftpErrorCode.AccessViolation, RawError(TftpOpcode.WriteRequest, "upload.bin").Code);
        using var tmp = new TempDirectory();
        File.WriteAllText(tmp.File("up"), "hello");
        var curl = ExternalTool.Try("curl", "-sS", "--max-time", "20", "-T", tmp.File("up"), Url("upload.bin"));
        Assert.NotEqual(0, curl.ExitCode);
        Assert.False(File.Exists(_root.File("upload.bin")));
    }

    [Fact]
    public async Task Many_transfers_at_once_and_a_silent_client_holds_nobody_up()
    {
        // A client that asks and never acknowledges keeps its own session retrying; the others complete.
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var rrq = new byte[256];
        int n = new TftpRequest { Opcode = TftpOpcode.ReadRequest, FileName = "kernel.bin", Mode = "octet", Options = [] }.Write(rrq);
        silent.SendTo(rrq.AsSpan(0, n), _server.LocalEndPoint);
        var fetches = Enumerable.Range(0, 6).Select(i => Task.Run(() => i % 2 == 0 ? Curl("kernel.bin", "--tftp-blksize", "1024") : Atftp("kernel.bin", "windowsize 8"))).ToArray();
        foreach (var got in await Task.WhenAll(fetches)) Assert.Equal(_file, got);
    }

    [Fact]
    public void Hostile_requests_get_errors_and_the_server_keeps_serving()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        s.ReceiveTimeout = 3000;
        byte[][] hostile =
        [
            [],
            [0],
            [0, 1],
            [0, 1, (byte)'a'],                                 // no NUL after the name
            [0, 1, (byte)'a', 0, (byte)'o', (byte)'c'],        // mode truncated
            [0, 1, (byte)'a', 0, (byte)'m', (byte)'a', (byte)'i', (byte)'l', 0], // obsolete mode
            [0, 3, 0, 1, 1, 2, 3],                             // DATA to the request port
            [0, 4, 0, 1],                                      // ACK to the request port
            [0, 9, 0, 0],
            [.. "\0\u0001a\0octet\0blksize\0"u8],             // option without value
            [.. "\0\u0001\u0001\u0002\0octet\0"u8],           // control bytes in the name
        ];
        foreach (var p in hostile) s.SendTo(p, _server.LocalEndPoint);
        var buf = new byte[1024];
        int answered = 0;
        try { while (true) { int n = s.Receive(buf); Assert.Equal(TftpOpcode.Error, TftpPacket.ReadOpcode(buf.AsSpan(0, n))); answered++; } }
        catch (SocketException) { }
        Assert.True(answered >= 8, $"only {answered} error answers");
        // Unknown and out-of-range options are dropped, not fatal.
        Assert.Equal(_file, Atftp("kernel.bin", "blksize 2", "windowsize 0", "frobnicate 7", "timeout 999"));
        Assert.Equal(_file, Curl("kernel.bin"));
    }

    [Fact]
    public void An_option_sent_twice_is_acknowledged_once_with_its_first_value()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveTimeout = 5000 };
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var rrq = "\0\u0001kernel.bin\0octet\0blksize\01024\0blksize\08\0tsize\00\0BlkSize\0512\0"u8.ToArray();
        s.SendTo(rrq, _server.LocalEndPoint);
        var buf = new byte[2048];
        EndPoint from = new IPEndPoint(IPAddress.Any, 0);
        int n = s.ReceiveFrom(buf, ref from);
        Assert.Equal(TftpOpcode.OptionAck, TftpPacket.ReadOpcode(buf));
        // RFC 2347: OACK = opcode, then name NUL value NUL per acknowledged option.
        var fields = System.Text.Encoding.ASCII.GetString(buf, 2, n - 2).TrimEnd('\0').Split('\0');
        Assert.Equal(["blksize", "1024", "tsize", _file.Length.ToString()], fields);
        // The transfer then runs with that one value: DATA 1 carries 1024 bytes.
        var ack = new byte[4];
        TftpPacket.WriteAck(ack, 0);
        s.SendTo(ack, from);
        n = s.ReceiveFrom(buf, ref from);
        Assert.Equal(TftpOpcode.Data, TftpPacket.ReadOpcode(buf));
        Assert.Equal(4 + 1024, n);
        TftpPacket.WriteError(buf, TftpErrorCode.NotDefined, "enough");
        s.SendTo(buf.AsSpan(0, 4 + 7), from);
    }

    [Fact]
    public async Task A_flood_of_requests_that_never_acknowledge_locks_nobody_else_out_and_ends_on_the_servers_schedule()
    {
        // 256 read requests from one address (127.0.0.2, each from its own port, like a client that forgets its
        // transfers), all asking for the longest retransmission timeout RFC 2349 allows, none ever acknowledged.
        var flood = new List<Socket>();
        try
        {
            var rrq = new byte[256];
            int n = new TftpRequest
            {
                Opcode = TftpOpcode.ReadRequest, FileName = "kernel.bin", Mode = "octet",
                Options = [new("timeout", "255"), new("tsize", "0")],
            }.Write(rrq);
            for (int i = 0; i < 256; i++)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                flood.Add(s);
                s.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
                s.SendTo(rrq.AsSpan(0, n), _server.LocalEndPoint);
                s.SendTo(rrq.AsSpan(0, n), _server.LocalEndPoint); // a retransmitted request starts no second session
            }
            // The first answer is an OACK without "timeout": 255 s is more than this server waits for anyone.
            flood[0].ReceiveTimeout = 5000;
            var buf = new byte[1024];
            int got = flood[0].Receive(buf);
            Assert.Equal(TftpOpcode.OptionAck, TftpPacket.ReadOpcode(buf));
            Assert.DoesNotContain("timeout", System.Text.Encoding.ASCII.GetString(buf, 2, got - 2));
            // Only a few sessions run for that address; the others are told so.
            flood[^1].ReceiveTimeout = 5000;
            got = flood[^1].Receive(buf);
            Assert.Equal(TftpOpcode.Error, TftpPacket.ReadOpcode(buf));
            Assert.Contains("too many transfers", TftpPacket.ParseError(buf.AsSpan(0, got)).Message);
            Assert.True(_server.ActiveTransfers <= 8, $"{_server.ActiveTransfers} sessions run for one address");

            // Meanwhile everyone else is served, by curl and by atftp.
            var fetches = Enumerable.Range(0, 4).Select(i => Task.Run(() => i % 2 == 0 ? Curl("kernel.bin", "--tftp-blksize", "1468") : Atftp("kernel.bin", "windowsize 8"))).ToArray();
            foreach (var bytes in await Task.WhenAll(fetches)) Assert.Equal(_file, bytes);

            // The silent sessions end on the server's own schedule, far sooner than 5 retries of 255 s.
            var until = DateTime.UtcNow.AddSeconds(60);
            while (_server.ActiveTransfers > 0 && DateTime.UtcNow < until) await Task.Delay(100);
            Assert.Equal(0, _server.ActiveTransfers);
            lock (_log) Assert.Contains(_log, l => l.Contains("127.0.0.2") && l.Contains("aborted kernel.bin"));
        }
        finally
        {
            foreach (var s in flood) s.Dispose();
        }
    }

    private (TftpErrorCode Code, string Message) RawError(TftpOpcode op, string name)
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.ReceiveTimeout = 5000;
        var buf = new byte[1024];
        int n = new TftpRequest { Opcode = op, FileName = name, Mode = "octet", Options = [] }.Write(buf);
        s.SendTo(buf.AsSpan(0, n), _server.LocalEndPoint);
        n = s.Receive(buf);
        return TftpPacket.ParseError(buf.AsSpan(0, n));
    }

    /// <summary>A lock-step RFC 1350 client that returns the wire bytes (no netascii decoding).</summary>
    private byte[] RawFetch(string name, string mode)
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.ReceiveTimeout = 5000;
        var buf = new byte[1024];
        int n = new TftpRequest { Opcode = TftpOpcode.ReadRequest, FileName = name, Mode = mode, Options = [] }.Write(buf);
        s.SendTo(buf.AsSpan(0, n), _server.LocalEndPoint);
        var result = new MemoryStream();
        EndPoint from = new IPEndPoint(IPAddress.Any, 0);
        while (true)
        {
            n = s.ReceiveFrom(buf, ref from);
            Assert.Equal(TftpOpcode.Data, TftpPacket.ReadOpcode(buf));
            result.Write(buf, 4, n - 4);
            var ack = new byte[4];
            TftpPacket.WriteAck(ack, (ushort)(buf[2] << 8 | buf[3]));
            s.SendTo(ack, from);
            if (n - 4 < 512) return result.ToArray();
        }
    }
}
