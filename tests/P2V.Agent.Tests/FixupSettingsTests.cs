using System.Text.Json;
using P2V.Store;

namespace P2V.Agent.Tests;

public sealed class FixupSettingsTests
{
    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement;

    [Fact]
    public void Settings_as_p2v_job_create_writes_them_are_read_back()
    {
        var s = FixupStep.Settings(Json("""{"target": "qemu", "vcpus": 2, "patches": "http://10.0.0.1:8080/patches.tar"}"""));
        Assert.Equal(new FixupSettings("qemu", 2, "http://10.0.0.1:8080/patches.tar"), s);
        Assert.Equal(new FixupSettings("hyperv"), FixupStep.Settings(Json("""{"target": "hyperv"}""")));
        var all = FixupStep.Settings(Json("""{"target": "qemu", "drivers": "http://h/drivers.tar", "firstboot": "https://h/firstboot.tar"}"""));
        Assert.Equal(new FixupSettings("qemu", 1, null, "http://h/drivers.tar", "https://h/firstboot.tar"), all);
    }

    [Theory]
    [InlineData("null", "no fixup settings")]
    [InlineData("""{"vcpus": 1}""", "no \"target\"")]
    [InlineData("""{"target": "qemu", "vcpus": 0}""", "\"vcpus\" is 0")]
    [InlineData("""{"target": "qemu", "vcpus": "two"}""", "\"vcpus\" is \"two\"")]
    [InlineData("""{"target": "qemu", "patches": 5}""", "\"patches\" is 5")]
    [InlineData("""{"target": "qemu", "drivers": ["a"]}""", "\"drivers\" is [\"a\"]")]
    [InlineData("""{"target": "qemu", "firstboot": "/srv/firstboot.tar"}""", "firstboot '/srv/firstboot.tar' is not an http URL")]
    public void Bad_settings_are_refused_with_the_field_and_its_value(string json, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => FixupStep.Settings(json == "null" ? null : Json(json)));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void A_machines_disks_have_one_image_each_and_a_jobs_image_owns_only_those()
    {
        Assert.Equal("srv", DiskImageNames.Of("srv", 1));
        Assert.Equal("srv.disk2", DiskImageNames.Of("srv", 2));
        Assert.True(DiskImageNames.BelongsTo("srv.disk2", "srv"));
        Assert.True(DiskImageNames.BelongsTo("srv", "srv"));
        foreach (var other in new[] { "srv.disk1", "srv.disk02", "srv.disk", "srv.diskX", "srv2", "srv.disk2x", "sr" })
            Assert.False(DiskImageNames.BelongsTo(other, "srv"), other);
        Assert.True(DiskImageNames.IsFurtherDisk("srv.disk2"));
        foreach (var name in new[] { "srv", "srv.disk1", "srv.disk02", ".disk2", "srv.disk", "srv.disk2.x" })
            Assert.False(DiskImageNames.IsFurtherDisk(name), name);
    }
}
