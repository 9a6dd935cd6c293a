"""Privacy in guarded public channels: the problem-report detector."""

from bot.privacy.detector import LANGUAGES, Detection, ProblemDetector, detect_language

__all__ = ["LANGUAGES", "Detection", "ProblemDetector", "detect_language"]
