namespace P2V.Imaging.Pipeline;

/// <summary>The code paths of <see cref="Blake3"/>, narrowest first (the numbers are the C side's).</summary>
public enum Blake3Level
{
    Portable = 0,
    Sse2 = 1,
    Avx2 = 2,
    Avx512 = 3,
}
