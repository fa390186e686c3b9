namespace PagedSim.Allocator.Simulation;

/// <summary>Ordinary least squares for a handful of unknowns (normal equations, Gaussian elimination).</summary>
internal static class LeastSquares
{
    /// <summary>The x minimising ‖A·x − y‖² for rows <paramref name="rows"/> of A.</summary>
    /// <exception cref="ArgumentException">The columns are linearly dependent.</exception>
    public static double[] Solve(IReadOnlyList<double[]> rows, IReadOnlyList<double> y)
    {
        int n = rows[0].Length;
        // Columns scaled to unit size first: bytes (~1e10) beside batch sizes (~1e2) would swamp the pivots.
        var scale = new double[n];
        for (int i = 0; i < n; i++) scale[i] = Math.Max(1e-300, rows.Max(row => Math.Abs(row[i])));
        var m = new double[n, n + 1];
        for (int r = 0; r < rows.Count; r++)
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j < n; j++) m[i, j] += rows[r][i] / scale[i] * rows[r][j] / scale[j];
                m[i, n] += rows[r][i] / scale[i] * y[r];
            }
        for (int c = 0; c < n; c++)
        {
            int pivot = c;
            for (int r = c + 1; r < n; r++) if (Math.Abs(m[r, c]) > Math.Abs(m[pivot, c])) pivot = r;
            if (Math.Abs(m[pivot, c]) < 1e-12 * rows.Count) throw new ArgumentException("The calibration points do not determine the fit.");
            for (int j = 0; j <= n; j++) (m[c, j], m[pivot, j]) = (m[pivot, j], m[c, j]);
            for (int r = 0; r < n; r++)
            {
                if (r == c) continue;
                double f = m[r, c] / m[c, c];
                for (int j = c; j <= n; j++) m[r, j] -= f * m[c, j];
            }
        }
        var x = new double[n];
        for (int i = 0; i < n; i++) x[i] = m[i, n] / m[i, i] / scale[i];
        return x;
    }
}
