"""The risk guard: rules that read the market and the bot's results and decide its trading
state and the size of each entry (``engine.Guard``), pure rules in ``rules``."""
