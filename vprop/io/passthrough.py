"""What a new video keeps of its source besides the pixels: tags, display matrix, audio and subtitles.

Audio and subtitle streams go over packet for packet (same bytes, same timestamps) wherever the
output's muxer holds their codec; only where it does not are they re-encoded, with a warning.
"""

import io
import warnings
from pathlib import Path

import av

# What a stream becomes where the output's muxer refuses its codec: AAC plays everywhere,
# mov_text is the text subtitle format of MP4 and QuickTime (Matroska holds every subtitle).
_AUDIO_FALLBACK, _TEXT_FALLBACK = "aac", "mov_text"


def holds(format_name: str, stream) -> bool:
    """Whether the `format_name` muxer takes `stream` as it is, packet for packet.

    Asked of the muxer itself, on a scratch file in memory: first its codec tag table
    (PyAV checks avformat_query_codec), then its header, which refuses what the table lets
    through but the format cannot store (Opus or FLAC in QuickTime .mov, for two).
    """
    try:
        with av.open(io.BytesIO(), "w", format=format_name) as trial:
            trial.add_stream_from_template(stream)
            trial.start_encoding()
    except (ValueError, av.FFmpegError):
        return False
    return True


def keep_video_tags(source_stream, video, display_matrix):
    """Give the re-encoded `video` the source video stream's tags and display matrix (rotation, flips)."""
    video.metadata.update(_tags(source_stream.metadata))
    video.disposition = source_stream.disposition
    if display_matrix is not None:
        video.set_display_matrix(display_matrix)


def _tags(metadata: dict) -> dict:
    # The source's encoder name would credit it with our encoding; the muxer writes ours.
    return {key: value for key, value in metadata.items() if key.lower() != "encoder"}


class StreamCopier:
    """Remux the audio/subtitle packets of `source` into `output`, interleaved with the video.

    Where the output's muxer refuses a stream's codec (see `holds`), audio is re-encoded to
    AAC, text subtitles to mov_text, and bitmap subtitles dropped, each with a one-line warning
    naming the stream, its codec and why. Create it before the first mux: it adds its streams,
    and the source container's tags, to `output`. ``source`` None (a video made from nothing) copies nothing.
    """

    def __init__(self, source, output):
        self._output, self._streams = output, {}
        if source is not None:
            output.metadata.update(_tags(source.metadata))
        for stream in source.streams if source is not None else ():
            if stream.type not in ("audio", "subtitle"):
                continue
            if holds(output.format.name, stream):
                copy, converted = output.add_stream_from_template(stream), False
                copy.metadata.update(stream.metadata)
            else:
                copy, outcome = self._replacement(stream, output)
                codec = stream.codec_context.codec.canonical_name   # "mp3", not its decoder's "mp3float"
                warnings.warn(f"{Path(source.name).name}: {stream.type} stream #{stream.index} ({codec}) "
                              f"cannot go into {Path(output.name).suffix} (the {output.format.name} muxer "
                              f"does not take {codec}); {outcome}", stacklevel=3)
                if copy is None:
                    continue
                copy.metadata.update(_tags(stream.metadata))
                converted = True
            copy.disposition = stream.disposition
            self._streams[stream.index] = copy, converted
        wanted = [source.streams[i] for i in self._streams]   # none when there is no source
        self._packets = source.demux(*wanted) if wanted else iter(())
        self._pending = None

    @staticmethod
    def _replacement(stream, output):
        """The stream to re-encode `stream` into, and what the warning says happened."""
        if stream.type == "audio":
            return output.add_stream(_AUDIO_FALLBACK, rate=stream.rate, layout=stream.layout), "re-encoded to AAC"
        if not stream.codec_context.codec.text_sub:
            return None, "dropped (picture subtitles cannot be converted to text)"
        try:
            copy = output.add_stream(_TEXT_FALLBACK)
        except ValueError:
            return None, "dropped"
        stream.codec_context.open()  # the decoder writes the ASS header the encoder needs
        copy.codec_context.subtitle_header = stream.codec_context.subtitle_header
        copy.time_base = copy.codec_context.time_base = stream.time_base
        return copy, f"converted to {_TEXT_FALLBACK}"

    def copy_until(self, seconds: float | None):
        """Mux the source packets that start up to `seconds`; None means all that are left."""
        while (packet := self._peek()) is not None:
            time = packet.dts if packet.dts is not None else packet.pts
            if seconds is not None and time is not None and time * packet.time_base > seconds:
                return
            self._pending = None
            copy, converted = self._streams[packet.stream.index]
            if converted:
                self._convert(packet, copy)
            elif packet.size:  # empty packets only mark the end of a stream
                packet.stream = copy
                self._output.mux(packet)

    def finish(self):
        self.copy_until(None)
        for copy, converted in self._streams.values():
            if converted and copy.type == "audio":
                self._output.mux(copy.encode(None))

    def _convert(self, packet, copy):
        if copy.type == "audio":
            for audio in packet.decode():  # the final empty packet flushes the decoder
                self._output.mux(copy.encode(audio))
            return
        subtitle = packet.stream.codec_context.decode2(packet) if packet.size else None
        if subtitle is None:
            return
        text = copy.codec_context.encode_subtitle(subtitle)
        # The encoder stamps its packet in microseconds; the source packet's own timing is exact.
        text.pts, text.dts, text.duration = packet.pts, packet.dts, packet.duration
        text.time_base, text.stream = packet.time_base, copy
        self._output.mux(text)

    def _peek(self):
        if self._pending is None:
            try:
                self._pending = next(self._packets, None)
            except av.FFmpegError as error:
                # A damaged source should still give a video; its audio just ends early.
                warnings.warn(f"audio/subtitle copy stopped early ({error})", stacklevel=4)
                self._packets = iter(())
        return self._pending
