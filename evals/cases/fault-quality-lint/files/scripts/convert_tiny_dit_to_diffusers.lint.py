import argparse
import os


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint_path",type=str)
    return parser.parse_args()


if __name__ == "__main__":
    main()
