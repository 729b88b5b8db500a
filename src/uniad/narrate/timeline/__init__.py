"""The timeline narration plans on: subtitles, slots between dialogue, gaps, timing rules, dialogue and on-screen text around a slot."""
