"""EmoSpeaker: speech + emotion keys -> per-frame facial animation (FaceTrack).

The flow, in one page:

    audio = load_audio("line.wav")                         # emospeaker.audio
    timeline = EmotionTimeline.parse("0s=neutral:0,2s=happy:0.8")
    track = animate(audio, timeline, fps=Fraction(24))     # emospeaker.api -> an engine
    save_track(track, "line.json")                         # emospeaker.formats

Everything between a user and an engine is a `FaceTrack` (emospeaker.track).
"""

__version__ = "0.1.0"
