"""The networks of the `mellotron-zh` engine, in plain torch, loaded from converted state dicts
(backend/engines/mellotron_weights.py): a multi-speaker Tacotron 2 (Mellotron without GST or pitch input; the
speaker is a continuous 32-vector) and a MelGAN generator. Inference only."""
import torch
from torch import nn
from torch.nn import functional as F

PRENET_DROPOUT = 0.5  # active at inference too, as the model was trained: the caller seeds it


class _Conv(nn.Module):
    def __init__(self, cin, cout, kernel, bias=True):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, kernel, padding=(kernel - 1) // 2, bias=bias)

    def forward(self, x):
        return self.conv(x)


class _Linear(nn.Module):
    def __init__(self, cin, cout, bias=True):
        super().__init__()
        self.linear_layer = nn.Linear(cin, cout, bias=bias)

    def forward(self, x):
        return self.linear_layer(x)


class Encoder(nn.Module):
    def __init__(self, dim=256, kernel=5, layers=3):
        super().__init__()
        self.convolutions = nn.ModuleList(nn.Sequential(_Conv(dim, dim, kernel), nn.BatchNorm1d(dim))
                                          for _ in range(layers))
        self.lstm = nn.LSTM(dim, dim // 2, 1, batch_first=True, bidirectional=True)

    def forward(self, x):
        for conv in self.convolutions:
            x = F.relu(conv(x))
        outputs, _ = self.lstm(x.transpose(1, 2))
        return outputs


class _Location(nn.Module):
    def __init__(self, filters, kernel, attention_dim):
        super().__init__()
        self.location_conv = _Conv(2, filters, kernel, bias=False)
        self.location_dense = _Linear(filters, attention_dim, bias=False)

    def forward(self, weights_cat):
        return self.location_dense(self.location_conv(weights_cat).transpose(1, 2))


class Attention(nn.Module):
    """Location-sensitive attention."""

    def __init__(self, rnn_dim, memory_dim, attention_dim, filters, kernel):
        super().__init__()
        self.query_layer = _Linear(rnn_dim, attention_dim, bias=False)
        self.memory_layer = _Linear(memory_dim, attention_dim, bias=False)
        self.v = _Linear(attention_dim, 1, bias=False)
        self.location_layer = _Location(filters, kernel, attention_dim)

    def forward(self, query, memory, processed_memory, weights_cat):
        energies = self.v(torch.tanh(self.query_layer(query.unsqueeze(1)) + self.location_layer(weights_cat)
                                     + processed_memory)).squeeze(-1)
        weights = F.softmax(energies, dim=1)
        return torch.bmm(weights.unsqueeze(1), memory).squeeze(1), weights


class Prenet(nn.Module):
    def __init__(self, cin, sizes):
        super().__init__()
        self.layers = nn.ModuleList(_Linear(a, b, bias=False) for a, b in zip([cin] + sizes[:-1], sizes))

    def forward(self, x):
        for layer in self.layers:
            x = F.dropout(F.relu(layer(x)), p=PRENET_DROPOUT, training=True)
        return x


class Decoder(nn.Module):
    def __init__(self, hp, memory_dim):
        super().__init__()
        self.n_mels, self.rnn_dim, self.memory_dim = hp["n_mel_channels"], hp["decoder_rnn_dim"], memory_dim
        self.prenet = Prenet(hp["n_mel_channels"], [hp["prenet_dim"], hp["prenet_dim"]])
        self.attention_rnn = nn.LSTMCell(hp["prenet_dim"] + memory_dim, hp["attention_rnn_dim"])
        self.attention_layer = Attention(hp["attention_rnn_dim"], memory_dim, hp["attention_dim"],
                                         hp["attention_location_n_filters"], hp["attention_location_kernel_size"])
        self.decoder_rnn = nn.LSTMCell(hp["attention_rnn_dim"] + memory_dim, hp["decoder_rnn_dim"])
        self.linear_projection = _Linear(hp["decoder_rnn_dim"] + memory_dim, hp["n_mel_channels"])
        self.gate_layer = _Linear(hp["decoder_rnn_dim"] + memory_dim, 1)

    def inference(self, memory, max_steps, gate_threshold=0.5):
        """Mel frames until the stop gate fires or max_steps; returns (mels (1, n_mels, T), stopped, alignments)."""
        batch, steps_in = memory.shape[:2]
        zeros = memory.new_zeros
        attention_hidden, attention_cell = zeros(batch, self.attention_rnn.hidden_size), zeros(batch, self.attention_rnn.hidden_size)
        decoder_hidden, decoder_cell = zeros(batch, self.rnn_dim), zeros(batch, self.rnn_dim)
        weights, weights_cum = zeros(batch, steps_in), zeros(batch, steps_in)
        context = zeros(batch, self.memory_dim)
        processed = self.attention_layer.memory_layer(memory)
        frame = zeros(batch, self.n_mels)
        mels, alignments = [], []
        for _step in range(max_steps):
            cell_input = torch.cat((self.prenet(frame), context), -1)
            attention_hidden, attention_cell = self.attention_rnn(cell_input, (attention_hidden, attention_cell))
            context, weights = self.attention_layer(attention_hidden, memory, processed,
                                                    torch.stack((weights, weights_cum), dim=1))
            weights_cum = weights_cum + weights
            decoder_hidden, decoder_cell = self.decoder_rnn(torch.cat((attention_hidden, context), -1),
                                                            (decoder_hidden, decoder_cell))
            out = torch.cat((decoder_hidden, context), dim=1)
            frame = self.linear_projection(out)
            mels.append(frame)
            alignments.append(weights)
            if torch.sigmoid(self.gate_layer(out)).min() > gate_threshold:
                return torch.stack(mels, dim=2), True, torch.stack(alignments, dim=1)
        return torch.stack(mels, dim=2), False, torch.stack(alignments, dim=1)


class Postnet(nn.Module):
    def __init__(self, n_mels=80, dim=256, kernel=5, layers=5):
        super().__init__()
        sizes = [n_mels] + [dim] * (layers - 1) + [n_mels]
        self.convolutions = nn.ModuleList(nn.Sequential(_Conv(a, b, kernel), nn.BatchNorm1d(b))
                                          for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x):
        for index, conv in enumerate(self.convolutions):
            x = conv(x)
            if index < len(self.convolutions) - 1:
                x = torch.tanh(x)
        return x


class Mellotron(nn.Module):
    def __init__(self, hp):
        super().__init__()
        self.embedding = nn.Embedding(hp["n_symbols"], hp["symbols_embedding_dim"])
        self.encoder = Encoder(hp["encoder_embedding_dim"], hp["encoder_kernel_size"], hp["encoder_n_convolutions"])
        self.speaker_embedding = nn.Linear(hp["n_speakers"], hp["speaker_embedding_dim"])
        self.decoder = Decoder(hp, hp["encoder_embedding_dim"] + hp["speaker_embedding_dim"])
        self.postnet = Postnet(hp["n_mel_channels"], hp["postnet_embedding_dim"], hp["postnet_kernel_size"],
                               hp["postnet_n_convolutions"])

    @torch.inference_mode()
    def synthesize(self, symbols, speaker, max_steps):
        """symbols (T,) ids, speaker (n_speakers,) vector -> (log-mel (n_mels, frames), stopped by the gate)."""
        text = self.encoder(self.embedding(symbols[None]).transpose(1, 2))
        voice = self.speaker_embedding(speaker[None])[:, None].expand(-1, text.shape[1], -1)
        mels, stopped, _alignments = self.decoder.inference(torch.cat((text, voice), dim=2), max_steps)
        return (mels + self.postnet(mels))[0], stopped


class _ResStack(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.blocks = nn.ModuleList(nn.Sequential(
            nn.LeakyReLU(0.2), nn.ReflectionPad1d(3 ** i), nn.Conv1d(channels, channels, 3, dilation=3 ** i),
            nn.LeakyReLU(0.2), nn.Conv1d(channels, channels, 1)) for i in range(3))
        self.shortcuts = nn.ModuleList(nn.Conv1d(channels, channels, 1) for _ in range(3))

    def forward(self, x):
        for block, shortcut in zip(self.blocks, self.shortcuts):
            x = shortcut(x) + block(x)
        return x


class MelGAN(nn.Module):
    """MelGAN generator (hop 256): log-mel frames -> waveform in -1..1."""

    HOP = 256

    def __init__(self, n_mels=80):
        super().__init__()
        self.generator = nn.Sequential(
            nn.ReflectionPad1d(3), nn.Conv1d(n_mels, 512, 7),
            nn.LeakyReLU(0.2), nn.ConvTranspose1d(512, 256, 16, 8, padding=4), _ResStack(256),
            nn.LeakyReLU(0.2), nn.ConvTranspose1d(256, 128, 16, 8, padding=4), _ResStack(128),
            nn.LeakyReLU(0.2), nn.ConvTranspose1d(128, 64, 4, 2, padding=1), _ResStack(64),
            nn.LeakyReLU(0.2), nn.ConvTranspose1d(64, 32, 4, 2, padding=1), _ResStack(32),
            nn.LeakyReLU(0.2), nn.ReflectionPad1d(3), nn.Conv1d(32, 1, 7), nn.Tanh())

    @torch.inference_mode()
    def vocode(self, mel):
        """(n_mels, frames) log-mel -> (frames * 256,) float waveform; padded with silence like ttskit's."""
        padded = torch.cat((mel, torch.full((mel.shape[0], 10), -11.5129)), dim=1)
        audio = self.generator(((padded + 5.0) / 5.0)[None]).flatten()
        return audio[:-(self.HOP * 10)]
