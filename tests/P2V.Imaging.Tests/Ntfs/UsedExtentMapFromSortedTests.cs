namespace P2V.Imaging.Tests.Ntfs;

/// <summary>The one-pass builder the NTFS bitmap walk uses must agree with the general one.</summary>
public sealed class UsedExtentMapFromSortedTests
{
    [Fact]
    public void AgreesWithFromOnSortedUnsortedAdjacentOverlappingAndClippedInput()
    {
        var random = new Random(11);
        for (int round = 0; round < 200; round++)
        {
            var extents = new List<Extent>();
            long at = random.Next(-50, 50);
            for (int i = random.Next(0, 40); i > 0; i--)
            {
                long length = random.Next(0, 30);
                extents.Add(new Extent(at, length));
                at += random.Next(-10, 40); // sometimes overlapping, adjacent, or out of order
            }
            long limit = random.Next(0, 2) == 0 ? long.MaxValue : random.Next(0, 800);
            var expected = UsedExtentMap.From(extents, limit);
            var actual = UsedExtentMap.FromSorted(extents, limit);
            Assert.Equal(expected.Extents, actual.Extents);
            Assert.Equal(expected.UsedBytes, actual.UsedBytes);
        }
    }
}
