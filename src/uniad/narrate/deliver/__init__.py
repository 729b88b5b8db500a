"""From descriptions to files people open: plan, speech and fitting, tracks, DAPT, mix, extended video, review page, render."""
