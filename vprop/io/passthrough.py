"""Carry a source video's audio and subtitles over to a new file, untouched where possible."""

import warnings
from pathlib import Path

import av

# FFmpeg can put PCM and more into .mp4, but players cannot play it, so mp4 gets this list.
_MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "opus", "alac", "flac"}


class StreamCopier:
    """Remux the audio/subtitle packets of `source` into `output`, interleaved with the video.

    Audio whose codec the output container cannot hold is re-encoded to AAC;
    such subtitles are dropped with a warning. Create it before the first mux:
    it adds its streams to `output`.
    """

    def __init__(self, source, output, suffix: str):
        supported = _MP4_AUDIO if suffix.lower() == ".mp4" else output.supported_codecs
        self._output, self._streams, self._reencoded = output, {}, []
        for stream in source.streams:
            if stream.type not in ("audio", "subtitle"):
                continue
            if stream.codec_context.name in supported:
                copy = output.add_stream_from_template(stream)
            elif stream.type == "audio":
                copy = output.add_stream("aac", rate=stream.rate, layout=stream.layout)
                self._reencoded.append(copy)
            else:
                warnings.warn(f"{Path(source.name).name}: {stream.codec_context.name} subtitles cannot "
                              f"go into {suffix}; dropped", stacklevel=3)
                continue
            copy.metadata.update(stream.metadata)  # keeps the language tags
            self._streams[stream.index] = copy
        wanted = [source.streams[i] for i in self._streams]
        self._packets = source.demux(*wanted) if wanted else iter(())
        self._pending = None

    def copy_until(self, seconds: float | None):
        """Mux the source packets that start up to `seconds`; None means all that are left."""
        while (packet := self._peek()) is not None:
            if seconds is not None and packet.dts is not None \
                    and packet.dts * packet.time_base > seconds:
                return
            self._pending = None
            stream = self._streams[packet.stream.index]
            if stream in self._reencoded:
                for audio in packet.decode():  # the final empty packet flushes the decoder
                    self._mux(stream.encode(audio))
            elif packet.dts is not None:  # None marks the empty end-of-stream packets
                packet.stream = stream
                self._output.mux(packet)

    def finish(self):
        self.copy_until(None)
        for stream in self._reencoded:
            self._mux(stream.encode(None))

    def _peek(self):
        if self._pending is None:
            try:
                self._pending = next(self._packets, None)
            except av.FFmpegError as error:
                # A damaged source should still give a video; its audio just ends early.
                warnings.warn(f"audio/subtitle copy stopped early ({error})", stacklevel=4)
                self._packets = iter(())
        return self._pending

    def _mux(self, packets):
        for packet in packets:
            self._output.mux(packet)
