"""SafetyNet: disaster-mode safety confirmation (安否確認) for cities and town associations."""

__version__ = "0.1.0"
