namespace PimQuant.Quant.Observers;

/// <summary>
/// How a quantizer's range is found from the values it sees. Every observer yields a range
/// [min, max] per scale group; one shared function (<see cref="Quantizers.QuantParameters"/>)
/// turns ranges into scales and zero points.
/// </summary>
public abstract record ObserverSpec
{
    private protected ObserverSpec() { }

    /// <summary>The running minimum and maximum.</summary>
    public static MinMax MinMaxObserver { get; } = new();

    /// <summary>The YAML/report name: minmax, moving_average, percentile, mse.</summary>
    public abstract string Kind { get; }

    /// <summary>What is wrong with the parameters, as (field, problem) pairs.</summary>
    public virtual IEnumerable<(string Field, string Problem)> Problems() => [];

    /// <summary>A fresh observer for this spec.</summary>
    /// <param name="sampleLimit">Most values kept over all groups by observers that need samples (percentile, MSE).</param>
    public abstract Observer Create(long sampleLimit);

    /// <summary>The smallest and largest value seen.</summary>
    public sealed record MinMax : ObserverSpec
    {
        /// <inheritdoc/>
        public override string Kind => "minmax";
        /// <inheritdoc/>
        public override Observer Create(long sampleLimit) => new MinMaxObserver();
        /// <inheritdoc/>
        public override string ToString() => Kind;
    }

    /// <summary>
    /// Exponential moving average of each batch's minimum and maximum, m ← m + c·(batch − m),
    /// starting from the first batch (torch.ao's MovingAverageMinMaxObserver).
    /// </summary>
    /// <param name="Momentum">c in (0, 1].</param>
    public sealed record MovingAverage(double Momentum = 0.01) : ObserverSpec
    {
        /// <inheritdoc/>
        public override string Kind => "moving_average";
        /// <inheritdoc/>
        public override Observer Create(long sampleLimit) => new MovingAverageObserver(Momentum);
        /// <inheritdoc/>
        public override IEnumerable<(string Field, string Problem)> Problems()
        {
            if (!(Momentum is > 0 and <= 1)) yield return ("momentum", $"{Momentum} is not allowed (0 < momentum ≤ 1)");
        }
        /// <inheritdoc/>
        public override string ToString() => $"{Kind}({Momentum})";
    }

    /// <summary>
    /// The <paramref name="Percent"/>-th percentile as maximum and the (100 − Percent)-th as minimum,
    /// over a deterministic subsample of the values seen (linear interpolation between order statistics).
    /// </summary>
    /// <param name="Percent">In [50, 100].</param>
    public sealed record Percentile(double Percent = 99.99) : ObserverSpec
    {
        /// <inheritdoc/>
        public override string Kind => "percentile";
        /// <inheritdoc/>
        public override Observer Create(long sampleLimit) => new PercentileObserver(Percent, sampleLimit);
        /// <inheritdoc/>
        public override IEnumerable<(string Field, string Problem)> Problems()
        {
            if (!(Percent is >= 50 and <= 100)) yield return ("percentile", $"{Percent} is not allowed (50..100)");
        }
        /// <inheritdoc/>
        public override string ToString() => $"{Kind}({Percent})";
    }

    /// <summary>
    /// The clipping range minimising the squared quantization error of the values seen: candidates
    /// r·[min, max] for r = i/<paramref name="Candidates"/>, i = 1..<paramref name="Candidates"/>, per group.
    /// </summary>
    /// <param name="Candidates">Number of clipping ratios tried, 2..1000.</param>
    public sealed record Mse(int Candidates = 100) : ObserverSpec
    {
        /// <inheritdoc/>
        public override string Kind => "mse";
        /// <inheritdoc/>
        public override Observer Create(long sampleLimit) => new MseObserver(Candidates, sampleLimit);
        /// <inheritdoc/>
        public override IEnumerable<(string Field, string Problem)> Problems()
        {
            if (Candidates is < 2 or > 1000) yield return ("candidates", $"{Candidates} is not allowed (2..1000)");
        }
        /// <inheritdoc/>
        public override string ToString() => $"{Kind}({Candidates})";
    }
}
